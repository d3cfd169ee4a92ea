#!/usr/bin/env python3
"""magicd in front of a real application, the nginx way: the shipped
conf/nginx-auth-request.conf run by real nginx.

Three real servers on free loopback ports, each in this test's temporary
directory: nginx (the shipped server block, wrapped in a main config with
`daemon off`, its own pid file, error log and temp paths, so no root is
needed), magicd (auth_request target and sign-in pages, links to the outbox)
and an upstream application (echo_app.py, a python http.server that answers
with the headers it received). A cookie-keeping HTTP client that does not
follow redirects by itself walks it like a browser:

  1. an unauthenticated request to the application is redirected to the
     sign-in page, with the original URL (query and all) as the return-to;
     the application never sees it, forged identity headers or not;
  2. the sign-in page, generate, the link from the outbox and verify bring
     the browser back to exactly that URL;
  3. the application receives X-Auth-Request-Email/-User/-Groups, and what a
     client sends in those headers is overwritten by nginx;
  4. a location for the group "admins" answers 403 to a signed-in user
     outside it, and lets a member in;
  5. after sign-out the next request is sent to the sign-in page again, and
     a copy of the old session cookie does not get in either;
  6. magicd sees the client's address, not nginx's (the shipped block sets
     X-Real-IP, magicd trusts nginx for it), and what a client sends in
     X-Real-IP or X-Forwarded-For is overwritten: per-address limits and
     the "requested from" line of the mail are about the real client.

Skips (exit 77) only when nginx is not installed, or the magicd under test
has no GET /auth.
"""
import json
import os
import re
import sys
import time
import types
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nginx_front  # noqa: E402
from harness import DEMO, Browser, Magicd, check, skip  # noqa: E402

BOSS = "boss@example.com"


class Client(Browser):
    """harness.Browser pointed at nginx: keeps cookies, never follows a
    redirect by itself, so each hop can be looked at."""

    def __init__(self, port):
        super().__init__(types.SimpleNamespace(port=port))


def hdr(rec, name):
    vals = [v for k, v in rec["headers"] if k.lower() == name.lower()]
    return vals


def sign_in(c, srv, target, email):
    """From an unauthenticated request for target to the application's
    answer, hop by hop. Returns the application's echo."""
    st, h, body = c.req("GET", target)
    check(st == 302, f"GET {target} unauthenticated: {st}, want 302 to the sign-in page")
    loc = h.get("location", "")
    u = urllib.parse.urlsplit(loc)
    check(u.path == "/login", f"redirect goes to {loc!r}, not to the sign-in page")
    rd = urllib.parse.parse_qs(u.query).get("rd", [""])[0]
    want = f"http://127.0.0.1:{c.srv.port}{target}"
    check(rd == want, f"return-to in the redirect is {rd!r}, want {want!r}")

    st, h, body = c.req("GET", loc if loc.startswith("/") else u.path + "?" + u.query)
    check(st == 200, f"sign-in page through nginx: {st}")
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    check(m, "no csrf meta tag on the sign-in page")
    c.csrf = m.group(1).decode()
    m = re.search(rb'name="rd"[^>]*value="([^"]*)"', body)
    check(m, "the sign-in page does not carry the return-to")
    page_rd = m.group(1).decode().replace("&amp;", "&")
    check(page_rd == want, f"sign-in page carries rd {page_rd!r}, want {want!r}")

    n = len(srv.outbox_links())
    form = urllib.parse.urlencode({"email": email, "rd": page_rd})
    st, h, body = c.req("POST", "/magic/generate", form,
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 200, f"generate through nginx: {st} {body[:200]}")
    end = time.time() + 5
    while len(srv.outbox_links()) <= n and time.time() < end:
        time.sleep(0.05)
    links = srv.outbox_links()
    check(len(links) > n, "no link in the outbox")
    link = links[-1]["link"]
    base = f"http://127.0.0.1:{c.srv.port}/magic/verify/"
    check(link.startswith(base), f"the mailed link does not point at nginx: {link!r}")
    path = link[len(f"http://127.0.0.1:{c.srv.port}"):]

    st, h, body = c.req("GET", path)
    check(st == 200, f"verify page through nginx: {st}")
    st, h, body = c.req("POST", path)
    check(st == 303, f"verify through nginx: {st} {body[:300]}")
    check(h.get("location") == want, f"verify sends the browser to {h.get('location')!r}, "
          f"want the original {want!r}")
    check("session" in "".join(c.cookies), f"no session cookie after verify: {c.cookies}")

    st, h, body = c.req("GET", target)
    check(st == 200, f"GET {target} signed in: {st} {body[:200]}")
    return json.loads(body)


def main():
    why = nginx_front.available()
    if why:
        skip(why)
    check(os.path.exists(nginx_front.EXAMPLE), f"{nginx_front.EXAMPLE} is missing")
    srv = Magicd(workers=2)
    front = nginx_front.Front(srv.tmp)
    srv.write_conf(f"public_url {front.base_url};\nallowed_return_urls {front.base_url}/*;\n"
                   "real_ip_from 127.0.0.1;\nreal_ip_header X-Real-IP;\n")
    srv.start()
    st, _, _ = srv.request("GET", "/auth")
    if st == 404:
        srv.stop()
        skip("this magicd has no GET /auth yet")
    try:
        srv.run_cli("user", "add", BOSS, "--group", "admins", "--group", "ops")
        front.start(srv.port)
        journey(srv, front)
    except BaseException:
        sys.stderr.write("---- nginx error log ----\n" + front.error_log() + "\n")
        sys.stderr.write("---- magicd error log ----\n" + srv.log() + "\n")
        raise
    finally:
        front.stop()
        srv.stop()
    srv.check_sanitizers()
    print("PASS test_nginx_auth_request")


def journey(srv, front):
    nport = front.port
    target = "/app/hello?x=1&y=two%20words"
    forged = {"X-Auth-Request-Email": "mallory@evil.example",
              "X-Auth-Request-User": "mallory", "X-Auth-Request-Groups": "admins"}

    # 1. No session: to the sign-in page, and the application sees nothing.
    anon = Client(nport)
    st, h, _ = anon.req("GET", target, headers=forged)
    check(st == 302 and urllib.parse.urlsplit(h.get("location", "")).path == "/login",
          f"unauthenticated request with forged identity headers: {st} {h.get('location')}")
    check(front.app_requests() == [], "the application was reached without a session")
    print("ok: unauthenticated -> 302 to /login, application not reached")

    # 2. The whole sign-in through nginx lands on the original URL.
    c = Client(nport)
    echo = sign_in(c, srv, target, DEMO)
    check(echo["target"] == target, f"the application got {echo['target']!r}, want {target!r}")
    print(f"ok: link from the outbox -> back to {target}")

    # 3. Identity headers reach the application and cannot be forged.
    check(hdr(echo, "X-Auth-Request-Email") == [DEMO], f"email header: {echo['headers']}")
    check(len(hdr(echo, "X-Auth-Request-User")) == 1 and hdr(echo, "X-Auth-Request-User")[0],
          f"user header: {echo['headers']}")
    st, h, body = c.req("GET", "/app/whoami", headers=forged)
    check(st == 200, f"signed-in request with forged headers: {st}")
    echo = json.loads(body)
    check(hdr(echo, "X-Auth-Request-Email") == [DEMO],
          f"a client's X-Auth-Request-Email reached the application: {echo['headers']}")
    check(hdr(echo, "X-Auth-Request-Groups") in ([], [""]),
          f"a client's X-Auth-Request-Groups reached the application: {echo['headers']}")
    check("mallory" not in json.dumps(echo), f"forged identity passed through: {echo}")
    print(f"ok: application sees X-Auth-Request-Email {DEMO}; forged headers overwritten")

    # 4. Groups: demo is in none, boss is in admins.
    st, h, body = c.req("GET", "/admin/panel")
    check(st == 403, f"/admin/ for a user outside the group: {st}, want 403")
    text = body.decode(errors="replace")
    title = re.search(r'<h1 id="error-title">([^<]*)</h1>', text)
    msg = re.search(r'<p id="error-message">([^<]*)</p>', text)
    check('data-page="error"' in text and title and title.group(1) != "Forbidden" and msg and
          DEMO in msg.group(1) and "admins" in msg.group(1),
          f"the 403 is not magicd's page naming the user and the group: {text[:400]}")
    print(f"ok: user outside the group -> 403 {title.group(1)!r}: {msg.group(1)!r}")
    b = Client(nport)
    echo = sign_in(b, srv, "/admin/panel", BOSS)
    groups = hdr(echo, "X-Auth-Request-Groups")
    check(groups and set(groups[0].replace(" ", "").split(",")) == {"admins", "ops"},
          f"groups header for {BOSS}: {echo['headers']}")
    print(f"ok: group member -> /admin/ with X-Auth-Request-Groups {groups[0]!r}")

    # 5. Sign-out is honoured at the next request, also for a copied cookie.
    copied = dict(c.cookies)
    st, h, body = c.req("GET", "/login")
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    check(st == 200 and m, f"sign-in page for the sign-out token: {st}")
    c.csrf = m.group(1).decode()
    st, h, _ = c.req("POST", "/logout")
    check(st == 303, f"logout through nginx: {st}")
    st, h, _ = c.req("GET", target)
    check(st == 302 and urllib.parse.urlsplit(h.get("location", "")).path == "/login",
          f"after logout: {st} {h.get('location')}")
    thief = Client(nport)
    thief.cookies = copied
    st, h, _ = thief.req("GET", target)
    check(st == 302, f"a copy of the session cookie still works after logout: {st}")
    print("ok: logout -> next request redirected to /login, copied cookie refused")

    # 6. The client's address reaches magicd; a client cannot choose it.
    d = Client(nport)
    d.source = "127.0.0.7"
    d.headers = {"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6"}
    sign_in(d, srv, "/app/from", DEMO)
    ip = srv.outbox_links()[-1].get("ip")
    check(ip == "127.0.0.7", f"magicd saw the client as {ip!r}, want 127.0.0.7 (nginx's "
          "$remote_addr; not nginx itself, not what the client sent)")
    print("ok: magicd sees the client's own address through nginx, unforgeable")


if __name__ == "__main__":
    main()
