"""CSRF attacks on the running server, as an attacker who can plant a
cookie in the victim's browser (a sibling subdomain, a plain-HTTP
man-in-the-middle) would run them:
  - a planted 43-byte value of the attacker's choosing is not a secret:
    /login replaces it, and POSTs carrying it are refused, so the attacker
    cannot log the victim in to the attacker's account (login CSRF);
  - a genuine secret the attacker fetched and planted (fixation) stops
    being worth anything at sign-in: the server issues a fresh one, and the
    signed-in session does not accept the planted pair;
  - a tampered secret is refused;
  - with `cookie_secure on` the cookies are `__Host-` cookies (Secure,
    Path=/, no Domain), and a plain `csrf=` cookie, which is what a sibling
    subdomain could plant, is ignored.
"""
import random
import re
import string

from harness import DEMO, Browser, Magicd, check
from session_util import link_path, refresh_token, session_cookie_name, sign_in

ATTACKER = "mallory@example.com"
B64 = string.ascii_letters + string.digits + "-_"


def meta_token(body):
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    check(m, "no csrf meta tag")
    return m.group(1).decode()


def set_cookies(h_raw):
    return [v for k, v in h_raw if k.lower() == "set-cookie"]


def raw_get(srv, path, cookie):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    r = c.getresponse()
    raw, body = r.getheaders(), r.read()
    c.close()
    return r.status, raw, body


with Magicd(workers=2, users=(DEMO, ATTACKER)) as srv:
    # 1. A planted value of the attacker's choosing.
    planted = "".join(random.choice(B64) for _ in range(43))
    st, raw, body = raw_get(srv, "/login", "csrf=" + planted)
    token_for_planted = meta_token(body)
    fresh = [v for v in set_cookies(raw) if v.startswith("csrf=")]
    check(fresh and not fresh[0].startswith("csrf=" + planted + ";"),
          f"/login kept a planted cookie value instead of issuing its own: {set_cookies(raw)}")
    # the attacker's request for a link to its own account, from a browser
    # carrying the planted value and the token the page showed for it
    victim = Browser(srv)
    victim.cookies["csrf"] = planted
    victim.csrf = token_for_planted
    n = len(srv.outbox_links())
    st, _, body = victim.req("POST", "/magic/generate", "email=mallory%40example.com",
                             {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 403, f"generate with a planted 43-byte cookie: {st} (want 403)")
    check(len(srv.outbox_links()) == n, "a link was issued for a planted cookie")
    for v in ("A" * 43, "_" * 43, planted[:42] + "=", ""):
        b = Browser(srv)
        b.cookies["csrf"] = v
        st, _, body = b.req("GET", "/login")
        b.cookies["csrf"] = v
        st, _, _ = b.req("POST", "/magic/generate", "email=demo%40example.com",
                         {"Content-Type": "application/x-www-form-urlencoded"})
        check(st == 403, f"planted {v!r}: generate answered {st}")
    print("ok: planted cookie values are refused")

    # the whole login-CSRF chain fails: the victim never ends up signed in
    # as the attacker
    mal = Browser(srv)
    mal.login_page()
    genuine = mal.cookies["csrf"]
    check(len(genuine) != 43 or genuine != planted, "server secret")
    # a tampered genuine secret (one character changed) is refused
    i = len(genuine) // 2
    tampered = genuine[:i] + ("A" if genuine[i] != "A" else "B") + genuine[i + 1:]
    t = Browser(srv)
    t.cookies["csrf"] = tampered
    t.csrf = mal.csrf  # the token of the untampered secret
    st, _, _ = t.generate(DEMO)
    check(st == 403, f"tampered secret: {st}")
    st, _, body = raw_get(srv, "/login", "csrf=" + tampered)
    check(meta_token(body) != mal.csrf, "/login accepted a tampered secret")
    print("ok: tampered secret refused")

    # 2. Fixation: the attacker fetches a genuine secret and plants it.
    att = Browser(srv)
    att.login_page()
    fixed, fixed_token = att.cookies["csrf"], att.csrf
    victim = Browser(srv)
    victim.cookies["csrf"] = fixed
    victim, h = sign_in(srv, DEMO, browser=victim)
    check(victim.cookies.get("csrf") not in (None, fixed),
          "sign-in kept the planted CSRF secret (no fresh secret at sign-in)")
    sess = victim.cookies[session_cookie_name(victim)]
    refresh_token(victim)
    st, _, body = victim.req("POST", "/secure/1")
    check(st == 200 and b'id="whoami"' in body, f"victim's own pair works: {st}")
    # what the attacker knows (the planted secret and its token) no longer
    # works with the victim's session, even if the attacker re-plants it
    forged = Browser(srv)
    forged.cookies = {"csrf": fixed, "session": sess}
    forged.csrf = fixed_token
    st, _, body = forged.req("POST", "/secure/1")
    check(not (st == 200 and b'id="whoami"' in body),
          f"the fixated CSRF pair works with the victim's session: {st}")
    st, _, _ = forged.req("POST", "/logout")
    check(st == 403, f"logout with the fixated pair: {st}")
    st, _, body = victim.req("POST", "/secure/1")
    check(st == 200, f"victim still signed in after the forged logout: {st}")
    print("ok: fixation defeated (fresh secret at sign-in, session bound to it)")

# 3. __Host- cookies when cookie_secure is on.
with Magicd(workers=1, extra="cookie_secure on;") as srv:
    st, raw, body = raw_get(srv, "/login", None)
    sc = set_cookies(raw)
    host = [v for v in sc if v.startswith("__Host-csrf=")]
    check(host, f"no __Host-csrf cookie with cookie_secure on: {sc}")
    attrs = [a.strip() for a in host[0].split(";")]
    check("Secure" in attrs and "Path=/" in attrs and not any(a.lower().startswith("domain=")
                                                              for a in attrs),
          f"__Host- cookie attributes: {host[0]}")
    b = Browser(srv)
    b, h = sign_in(srv, DEMO, browser=b)
    check("__Host-session" in b.cookies, f"session cookie name: {list(b.cookies)}")
    scs = [v for k, v in h.items() if k == "set-cookie"]
    refresh_token(b)
    st, _, body = b.req("POST", "/secure/1")
    check(st == 200 and b'id="whoami"' in body, f"__Host- session works: {st}")
    # a sibling subdomain can set `csrf=` but never `__Host-csrf=`
    sib = Browser(srv)
    sib.login_page()
    value, token = sib.cookies["__Host-csrf"], sib.csrf
    plain = Browser(srv)
    plain.cookies = {"csrf": value}
    plain.csrf = token
    st, _, _ = plain.generate(DEMO)
    check(st == 403, f"a plain csrf= cookie is honoured with cookie_secure on: {st}")
    print("ok: __Host- cookies with cookie_secure on; plain names ignored")
print("csrf attacks ok")
