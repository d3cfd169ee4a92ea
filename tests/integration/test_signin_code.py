"""test_signin_code: the short code that travels beside the magic link.

The "link sent" answer carries a form for the 6-digit code from the mail;
POST /magic/code redeems it. Attacked on the running server:
  1. the right code, in the browser that asked, signs in (303 /secure/1 and
     a working session), and burns the link: the link then gets 410;
  2. redeeming the link first burns the code;
  3. another browser holding the same form fields and the right code gets
     403 (the code is bound to the requesting browser's CSRF binding), and
     that attempt does not burn the code;
  4. wrong codes get a clear page saying how many tries are left; the 5th
     wrong code kills the code *and* the link; the right code afterwards is
     refused with a "too many tries" page, and so is the link;
  5. no CSRF header 403, a tampered form ticket 400, a malformed code 400
     (not counted as a try), an expired code 410 with an "expired" page;
  6. an unknown address gets the same page, code form included, and no
     delivery; tries are counted in the store, so they add up across workers
     and across a restart.
"""
import html
import re
import time
import urllib.parse

from harness import DEMO, Browser, Magicd, check
from code_util import ask, code_form, send_code  # noqa: F401


def path_of(link):
    return link[link.index("/magic/verify/"):]


def signed_in(b):
    st, _, body = b.req("POST", "/secure/1")
    return st == 200 and DEMO.encode() in body


def wrong(code):
    return "%06d" % ((int(code) + 1) % 1000000)


with Magicd(workers=2, extra="rate_limit_email 100 1m;\nrate_limit_ip 1000 1m;") as srv:
    # 1. the code signs in and burns the link
    a = Browser(srv)
    a.login_page()
    ticket, d = ask(srv, a)
    st, h, body = send_code(a, ticket, d["code"])
    check(st == 303 and h.get("location") == "/secure/1",
          f"right code answered {st} {h.get('location')}: {body[:300]}")
    check("session" in a.cookies, "no session cookie after the right code")
    check(signed_in(a), "the session from the code does not open /secure/1")
    a.login_page()  # signing in issued a fresh CSRF secret: take its token
    st, _, body = a.req("POST", path_of(d["link"]))
    check(st == 410 and b"already used" in body, f"link after its code was used: {st}")
    st, _, body = send_code(a, ticket, d["code"])
    check(st == 410 and b"already used" in body, f"code used twice: {st} {body[:300]}")
    print("ok: the right code signs in (303 /secure/1) and burns the link (410)")

    # 2. the link burns the code
    b = Browser(srv)
    b.login_page()
    ticket, d = ask(srv, b)
    st, _, _ = b.req("POST", path_of(d["link"]))
    check(st == 303, f"link redeemed: {st}")
    st, _, body = send_code(b, ticket, d["code"])
    check(st == 410 and b"already used" in body, f"code after its link was used: {st}")
    print("ok: redeeming the link burns the code (410)")

    # 3. another browser with the same form fields and the right code
    c, thief = Browser(srv), Browser(srv)
    c.login_page()
    thief.login_page()
    ticket, d = ask(srv, c)
    st, _, body = send_code(thief, ticket, d["code"])
    check(st == 403 and b"different browser" in body, f"code from another browser: {st} {body[:300]}")
    check("session" not in thief.cookies, "another browser got a session")
    st, h, _ = send_code(c, ticket, d["code"])
    check(st == 303, f"the requesting browser after the thief's try: {st}")
    print("ok: a code from another browser gets 403 and does not burn it")

    # 4. wrong codes: 4 with tries left, the 5th kills code and link
    e = Browser(srv)
    e.login_page()
    ticket, d = ask(srv, e)
    for i in range(4):
        st, _, body = send_code(e, ticket, wrong(d["code"]))
        left = 4 - i
        check(st == 403 and b"not right" in body and str(left).encode() in body,
              f"wrong code #{i + 1}: {st} {body[:400]}")
        check(b'id="error-message"' in body, "a wrong code is not a clear page")
    # a malformed code is refused without counting as a try
    st, _, body = send_code(e, ticket, "12ab")
    check(st == 400 and b"6 digits" in body, f"malformed code: {st} {body[:300]}")
    st, _, body = send_code(e, ticket, wrong(d["code"]))
    check(st == 410 and b"Too many" in body, f"5th wrong code: {st} {body[:400]}")
    st, _, body = send_code(e, ticket, d["code"])
    check(st == 410 and b"Too many" in body, f"right code after 5 wrong ones: {st} {body[:300]}")
    check("session" not in e.cookies, "a session after the code was locked")
    st, _, body = e.req("POST", path_of(d["link"]))
    check(st == 410, f"the link after 5 wrong codes: {st} {body[:300]}")
    print("ok: wrong codes say how many tries are left; the 5th kills code and link")

    # tries are counted in the store: across workers and a restart
    f = Browser(srv)
    f.login_page()
    ticket, d = ask(srv, f)
    for _ in range(3):
        send_code(f, ticket, wrong(d["code"]))
    srv.stop()
    srv.start()
    send_code(f, ticket, wrong(d["code"]))
    st, _, body = send_code(f, ticket, wrong(d["code"]))
    check(st == 410 and b"Too many" in body, f"tries before and after a restart: {st} {body[:300]}")
    print("ok: tries are kept in the store (3 before a restart + 2 after = locked)")

    # 5. CSRF, tampered ticket, garbage
    g = Browser(srv)
    g.login_page()
    ticket, d = ask(srv, g)
    st, _, body = send_code(g, ticket, d["code"], csrf=False)
    check(st == 403 and b"CSRF" in body, f"code without a CSRF header: {st}")
    bad = ticket[:20] + ("A" if ticket[20] != "A" else "B") + ticket[21:]
    st, _, body = send_code(g, bad, d["code"])
    check(st == 400 and b"malformed" in body, f"tampered ticket: {st} {body[:300]}")
    st, _, body = send_code(g, "", d["code"])
    check(st == 400, f"no ticket: {st}")
    st, _, body = g.req("POST", "/magic/code", "ticket=" + "A" * 3000 + "&code=123456",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st in (400, 413), f"huge ticket: {st}")
    st, _, body = g.req("GET", "/magic/code")
    check(st == 405, f"GET /magic/code: {st}")
    st, _, _ = send_code(g, ticket, d["code"])
    check(st == 303, f"none of the bad requests burned the code: {st}")
    print("ok: no CSRF 403, tampered ticket 400, GET 405, none of them burns the code")

    # 6. an unknown address gets the same form and no delivery
    n = len(srv.outbox_links())
    st, _, known = g.generate(DEMO)
    st2, _, unknown = g.generate("nobody@example.com")
    check(st == st2 == 200, f"known {st}, unknown {st2}")
    code_form(known)
    code_form(unknown)
    strip = lambda s: re.sub(rb'value="[^"]+"', b"", s).replace(b"nobody@example.com", DEMO.encode())
    check(strip(known) == strip(unknown), "known and unknown addresses get different pages")
    check(len(srv.outbox_links()) == n + 1, "the unknown address got a delivery")
    t2 = code_form(unknown)
    st, _, body = send_code(g, t2, "000000")
    check(st == 403 and b"not right" in body, f"a code for an unknown address: {st}")
    print("ok: an unknown address gets the same page and form, and nothing is delivered")

# the code honours the return-to the link carries
with Magicd(workers=1, extra="rate_limit_email 100 1m;\n"
            "allowed_return_urls https://app.example.com/*;") as srv:
    r = Browser(srv)
    r.login_page()
    st, _, body = r.req("POST", "/magic/generate",
                        "email=demo%40example.com&rd=https%3A%2F%2Fapp.example.com%2Freport%3Fq%3D1",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 200, f"generate with rd: {st}")
    ticket = code_form(body)
    d = srv.outbox_links()[-1]
    st, h, _ = send_code(r, ticket, d["code"])
    check(st == 303 and h.get("location") == "https://app.example.com/report?q=1",
          f"code with a return-to: {st} {h.get('location')}")
    print("ok: the code brings the browser back to the link's return-to")

with Magicd(workers=1, extra="link_ttl 2s;\nrate_limit_email 100 1m;") as srv:
    h = Browser(srv)
    h.login_page()
    ticket, d = ask(srv, h)
    time.sleep(3.2)
    st, _, body = send_code(h, ticket, d["code"])
    check(st == 410 and b"expired" in body, f"expired code: {st} {body[:300]}")
    check(b'id="error-message"' in body, "the expired answer is not a clear page")
    print("ok: a code past the link's lifetime gets 410 with an \"expired\" page")
