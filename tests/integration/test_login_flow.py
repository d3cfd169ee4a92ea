"""The whole login flow against the real server (2 workers, outbox delivery):
login -> generate -> link from the outbox -> verify page -> verify -> secure
page -> secure content -> logout -> secure again sends to /login.
Also the JSON body on /magic/generate and the page security headers."""
import json
from harness import Magicd, Browser, DEMO, check


def link_path(srv):
    links = srv.outbox_links()
    check(links, "no link in the outbox")
    link = links[-1]["link"]
    check(link.startswith(f"http://127.0.0.1:{srv.port}/magic/verify/"), f"link base: {link}")
    return link[link.index("/magic/verify/"):]


with Magicd(workers=2) as srv:
    st, h, body = srv.request("GET", "/")
    check(st == 200 and b"/login" in body, "home page links to /login")
    st, h, body = srv.request("GET", "/healthz")
    check(st == 200 and json.loads(body) == {"status": "ok"}, "healthz")

    b = Browser(srv)
    st, h, body = b.login_page()
    check("no-store" in h.get("cache-control", ""), "login is no-store")
    csp = h.get("content-security-policy", "")
    check("default-src 'self'" in csp and "script-src 'self'" in csp, f"CSP: {csp}")
    check(h.get("x-content-type-options") == "nosniff", "nosniff")
    check(h.get("referrer-policy") == "no-referrer", "no-referrer")
    check("HttpOnly" in h.get("set-cookie", "") and "SameSite=Lax" in h["set-cookie"],
          "csrf cookie flags")
    # a second visit keeps the same browser secret
    cookie = b.cookies["csrf"]
    b.login_page()
    check(b.cookies["csrf"] == cookie, "csrf cookie is stable across page loads")

    st, h, body = b.generate(DEMO)
    check(st == 200 and DEMO.encode() in body, f"generate: {st} {body[:200]}")
    path = link_path(srv)
    entry = srv.outbox_links()[-1]
    check(entry["to"] == DEMO and entry["expires"] > 0 and len(entry["id"]) == 32, f"{entry}")

    st, h, body = b.req("GET", path)
    check(st == 200 and b'name="csrf-token"' in body, "verify page")
    st, h, body = b.req("POST", path)
    check(st == 303 and h.get("location") == "/secure/1", f"verify: {st} {h}")
    check("session" in b.cookies, "session cookie set")
    sc = [v for k, v in h.items() if k == "set-cookie"]
    check(any("HttpOnly" in v and "SameSite=Lax" in v for v in sc), f"session cookie flags {sc}")

    st, h, body = b.req("GET", "/secure/1")
    check(st == 200 and b'name="csrf-token"' in body, "secure page")
    st, h, body = b.req("POST", "/secure/1")
    check(st == 200 and b'id="whoami">demo@example.com<' in body, f"secure content {body[:200]}")
    st, h, body = b.req("POST", "/secure/42")
    check(st == 200 and b"#42" in body, "secure item id")

    st, h, body = b.req("POST", "/logout")
    check(st == 303 and h.get("location") == "/login", f"logout {st}")
    check("session" not in b.cookies, "session cleared")
    st, h, body = b.req("POST", "/secure/1")
    check(st == 303 and h.get("location") == "/login", "after logout: sent to /login")

    # JSON body is accepted too
    n = len(srv.outbox_links())
    st, h, body = b.generate(DEMO, as_json=True)
    check(st == 200, f"json generate {st} {body[:200]}")
    check(len(srv.outbox_links()) == n + 1, "json generate delivered a link")
    path = link_path(srv)
    st, h, body = b.req("POST", path)
    check(st == 303, f"json link verifies: {st}")

    # the access log records requests (buffered, flushed within the interval)
    import time
    time.sleep(0.5)
    log = open(srv.access_log).read()
    check('"POST /magic/generate HTTP/1.1" 200' in log, "access log line")
print("login flow ok")
