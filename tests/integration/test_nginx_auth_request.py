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
     a copy of the old session cookie does not get in either.

Skips (exit 77) only when nginx is not installed, or the magicd under test
has no GET /auth.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEMO, ROOT, Browser, Magicd, check, free_port, skip  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = os.path.join(ROOT, "conf", "nginx-auth-request.conf")
HERE = os.path.dirname(os.path.abspath(__file__))
BOSS = "boss@example.com"


def wait_port(port, proc, what, timeout=10):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} not listening on {port}")


def nginx_conf(tmp, nport, mport, aport):
    """The shipped example with this test's ports, inside a main config."""
    text = open(EXAMPLE).read()
    for old, new in (("127.0.0.1:8080", f"127.0.0.1:{mport}"),
                     ("127.0.0.1:3000", f"127.0.0.1:{aport}"),
                     ("listen 80;", f"listen 127.0.0.1:{nport};")):
        check(old in text, f"{EXAMPLE} no longer contains {old!r}: update this test")
        text = text.replace(old, new)
    temps = "".join(f"    {k}_temp_path {tmp}/{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/nginx-error.log info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {tmp}/nginx-access.log;\n{temps}{text}\n}}\n")


class Client(Browser):
    """harness.Browser pointed at nginx: keeps cookies, never follows a
    redirect by itself, so each hop can be looked at."""

    def __init__(self, port):
        super().__init__(types.SimpleNamespace(port=port))


def hdr(rec, name):
    vals = [v for k, v in rec["headers"] if k.lower() == name.lower()]
    return vals


def app_requests(log):
    try:
        with open(log) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


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
    if not os.access(NGINX, os.X_OK):
        skip("nginx is not installed (Debian package nginx)")
    check(os.path.exists(EXAMPLE), f"{EXAMPLE} is missing")
    nport, aport = free_port(), free_port()
    extra = (f"public_url http://127.0.0.1:{nport};\n"
             f"allowed_return_urls http://127.0.0.1:{nport}/*;\n")
    srv = Magicd(workers=2, extra=extra).start()
    st, _, _ = srv.request("GET", "/auth")
    if st == 404:
        srv.stop()
        skip("this magicd has no GET /auth yet")
    try:
        srv.run_cli("user", "add", BOSS, "--group", "admins", "--group", "ops")
        tmp = srv.tmp
        applog = os.path.join(tmp, "app.jsonl")
        app = subprocess.Popen([sys.executable, os.path.join(HERE, "echo_app.py"), str(aport),
                                applog])
        ngx = None
        try:
            wait_port(aport, app, "the upstream application")
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(nginx_conf(tmp, nport, srv.port, aport))
            r = subprocess.run([NGINX, "-t", "-c", f"{tmp}/nginx.conf", "-p", tmp],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, f"nginx -t refuses the example: {r.stderr}")
            ngx = subprocess.Popen([NGINX, "-c", f"{tmp}/nginx.conf", "-p", tmp],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            wait_port(nport, ngx, "nginx")
            journey(srv, nport, applog)
        except BaseException:
            for p in ("nginx-error.log",):
                try:
                    sys.stderr.write(f"---- {p} ----\n" + open(os.path.join(tmp, p)).read()[-3000:])
                except OSError:
                    pass
            raise
        finally:
            for p in (ngx, app):
                if p and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
    except BaseException:
        sys.stderr.write("---- magicd error log ----\n" + srv.log() + "\n")
        raise
    finally:
        srv.stop()
    srv.check_sanitizers()
    print("PASS test_nginx_auth_request")


def journey(srv, nport, applog):
    target = "/app/hello?x=1&y=two%20words"
    forged = {"X-Auth-Request-Email": "mallory@evil.example",
              "X-Auth-Request-User": "mallory", "X-Auth-Request-Groups": "admins"}

    # 1. No session: to the sign-in page, and the application sees nothing.
    anon = Client(nport)
    st, h, _ = anon.req("GET", target, headers=forged)
    check(st == 302 and urllib.parse.urlsplit(h.get("location", "")).path == "/login",
          f"unauthenticated request with forged identity headers: {st} {h.get('location')}")
    check(app_requests(applog) == [], "the application was reached without a session")
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
    check(b"admins" in body or b"not allowed" in body.lower() or b"403" in body,
          f"403 page says nothing: {body[:300]}")
    print("ok: user outside the group -> 403")
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


if __name__ == "__main__":
    main()
