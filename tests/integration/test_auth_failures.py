"""Every failure path of the login flow answers the right status and a clear
page, and the server keeps serving: wrong browser 403, expired 410, replayed
410, tampered 400, missing or wrong CSRF 403, unknown email gets the same
answer (and no link), rate limits 429 with Retry-After."""
import re
import time
from harness import Magicd, Browser, DEMO, check


def path_of(link):
    return link[link.index("/magic/verify/"):]


def flip(tok, i):
    c = tok[i]
    return tok[:i] + ("A" if c != "A" else "B") + tok[i + 1:]


with Magicd(workers=2, extra="rate_limit_email 3 1m;\nrate_limit_ip 1000 1m;") as srv:
    a, other = Browser(srv), Browser(srv)
    a.login_page()
    other.login_page()
    st, _, _ = a.generate(DEMO)
    check(st == 200, "generate")
    path = path_of(srv.outbox_links()[-1]["link"])

    # wrong browser: another browser's CSRF pair is valid, but the link is
    # bound to the first browser's token
    st, _, body = other.req("POST", path)
    check(st == 403 and b"different browser" in body, f"wrong browser: {st} {body[:200]}")

    # missing / wrong CSRF header on verify
    st, _, body = a.req("POST", path, csrf=False)
    check(st == 403 and b"CSRF" in body, f"verify without csrf header: {st}")
    st, _, body = a.req("POST", path, headers={"X-CSRF-Token": "x" * 43})
    check(st == 403, f"verify with wrong csrf: {st}")

    # tampered token: flip characters in the middle and at the end
    tok = path.rsplit("/", 1)[1]
    for i in (5, len(tok) // 2, len(tok) - 1):
        st, _, body = a.req("POST", "/magic/verify/" + flip(tok, i))
        check(st == 400 and b"malformed" in body, f"tampered at {i}: {st}")
    st, _, body = a.req("POST", "/magic/verify/" + "A" * 5000)
    check(st in (400, 414), f"huge token: {st}")
    st, _, body = a.req("POST", "/magic/verify/not-a-token")
    check(st == 400, f"garbage token: {st}")

    # none of the failures burned the link: it still works once, then 410
    st, h, _ = a.req("POST", path)
    check(st == 303, f"the original browser redeems the link: {st}")
    st, _, body = a.req("POST", path)
    check(st == 410 and b"already used" in body, f"replay: {st}")

    # generate without / with a wrong CSRF token
    nobody = Browser(srv)
    st, _, body = nobody.req("POST", "/magic/generate", "email=demo%40example.com",
                             {"Content-Type": "application/x-www-form-urlencoded",
                              "X-CSRF-Token": "random"})
    check(st == 403, f"generate without cookie: {st}")
    st, _, _ = a.req("POST", "/magic/generate", "email=demo%40example.com",
                     {"Content-Type": "application/x-www-form-urlencoded"}, csrf=False)
    check(st == 403, f"generate without header: {st}")
    st, _, _ = a.req("POST", "/logout", csrf=False)
    check(st == 403, f"logout without header: {st}")

    # bad emails and media types
    st, _, body = a.req("POST", "/magic/generate", "email=not-an-email",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 400 and b"valid email" in body, f"bad email: {st}")
    st, _, body = a.req("POST", "/magic/generate", "", {})
    check(st == 400, f"no body: {st}")
    st, _, body = a.req("POST", "/magic/generate", "{bad json", {"Content-Type": "application/json"})
    check(st == 400, f"bad json: {st}")
    st, _, body = a.req("POST", "/magic/generate", "email=a@b.c", {"Content-Type": "text/xml"})
    check(st == 415, f"wrong content type: {st}")

    # unknown email: the same answer, no link delivered
    n = len(srv.outbox_links())
    st1, _, known = a.generate(DEMO)
    st2, _, unknown = a.generate("nobody@example.com")
    check(st1 == 200 and st2 == 200, "both 200")
    # the code form's ticket is sealed with a fresh nonce each time: mask it
    def masked(page, addr):
        return re.sub(rb'name="ticket" value="[^"]*"', b"", page.replace(addr.encode(), b"X"))
    check(masked(known, DEMO) == masked(unknown, "nobody@example.com"),
          "same page for known and unknown addresses")
    check(len(srv.outbox_links()) == n + 1, "no link for the unknown address")

    # per-email rate limit: 3 per minute (two used above + this one)
    st, _, _ = a.generate(DEMO)
    check(st == 200, f"third request within the limit: {st}")
    st, h, body = a.generate(DEMO)
    check(st == 429 and int(h.get("retry-after", "0")) > 0, f"rate limit: {st} {h}")
    # another address is not affected
    st, _, _ = a.generate("other@example.com")
    check(st == 200, "other address not limited")
    st, _, _ = srv.request("GET", "/healthz")
    check(st == 200, "still serving")

# expired links: a 1-second lifetime
with Magicd(workers=1, extra="link_ttl 1s;") as srv:
    b = Browser(srv)
    b.login_page()
    b.generate(DEMO)
    path = path_of(srv.outbox_links()[-1]["link"])
    time.sleep(2.1)
    st, _, body = b.req("POST", path)
    check(st == 410 and b"expired" in body, f"expired: {st} {body[:200]}")

# per-IP rate limit
with Magicd(workers=2, extra="rate_limit_ip 5 1m;") as srv:
    b = Browser(srv)
    b.login_page()
    codes = [b.generate(f"u{i}@example.com")[0] for i in range(7)]
    check(codes[:5] == [200] * 5 and codes[5:] == [429, 429], f"ip limit across workers: {codes}")
print("auth failures ok")
