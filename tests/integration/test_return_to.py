#!/usr/bin/env python3
"""Return-to (rd) against the running server: followed when allowed, and
every open-redirect trick falls back to default_return_url.

The server allows https://*.example.com/* and http://127.0.0.1:PORT/app/*.
For each URL the test walks the real flow -- GET /login?rd=URL (what the
page carries), then POST /magic/generate with rd=URL sent directly (a client
need not use the page), the link from the outbox, verify -- and looks at
where verify sends the browser. An attack has succeeded when Location is
anything but the default. The same is checked for the return-to that a
proxy passes in X-Original-URL or X-Forwarded-Proto/-Host/-Uri, and for the
JSON answer the verify page's script asks for.

Also: cookie_domain puts Domain= on the session cookie (not on the CSRF
cookie, which binds a link to this host's browser); a cookie_domain that
does not cover public_url's host, a bad pattern and a default_return_url
that is not a URL are config errors that say why.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check  # noqa: E402

DEFAULT = "/secure/1"

GOOD = [
    "https://app.example.com/",
    "https://app.example.com/dash?tab=2&x=%41#top",
    "https://a.b.example.com/deep/path",
    "HTTPS://App.Example.COM/Case",  # scheme and host compare case-blind
]

ATTACKS = [
    "//evil.com/",
    "///evil.com/",
    "////evil.com",
    "\\\\evil.com",
    "/\\evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "https:evil.com",
    "https:/evil.com",
    "https:\\\\evil.com",
    "https://app.example.com@evil.com/",
    "https://x:y@app.example.com/",
    "https://app.example.com:443@evil.com/",
    "https://evil.com\\@app.example.com/",
    "https://evil.com#.example.com/",
    "https://evil.com?.example.com/",
    "https://evil.com/.example.com/",
    "https://evil.com%2f.example.com/",
    "https://evil.com%2F@app.example.com/",
    "https://evil.com%5c.example.com/",
    "/%2f%2fevil.com",
    "/%2F%2Fevil.com",
    "/%5cevil.com",
    "%2f%2fevil.com",
    "/%252f%252fevil.com",
    "https://app.example.com/%2f%2fevil.com",
    "https://app.example.com/\r\nLocation: https://evil.com/",
    "https://app.example.com/%0d%0aSet-Cookie:%20x=1",
    "/\r\nLocation: https://evil.com/",
    "https://app.example.com/\tx",
    "\thttps://app.example.com/",
    " https://app.example.com/",
    "https://app.example.com/ x",
    "https://evil.com\x00.example.com/",
    "https://evil.com%00.example.com/",
    "https://evil\u3002com/",                     # ideographic full stop
    "https://app.example.com\u2215evil.com/",     # division slash
    "https://\uff45vil.example.com/",             # fullwidth e
    "https://app.example.com/\u202e/moc.live",    # right-to-left override
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://app.example.com/",
    "http://app.example.com/",                    # pattern is https only
    "https://example.com/",                       # *. needs a label
    "https://.example.com/",
    "https://app.example.com.evil.com/",
    "https://evilexample.com/",
    "https://[::1]@evil.com/",
    "https://app.example.com:99999/",
    "https://app.example.com:8443/",              # port not in the pattern
    "https:///app.example.com/",
    "https://",
    "/login",                                     # relative: not allowed here
    "",
    "x" * 5000,
]


def verify_location(srv, b, rd, via_page):
    """Sign in with return-to rd; where does verify send the browser?"""
    qs = urllib.parse.urlencode({"rd": rd})
    st, h, body = b.req("GET", "/login?" + qs)
    check(st == 200, f"/login?{qs[:80]}: {st}")
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    b.csrf = m.group(1).decode()
    m = re.search(rb'name="rd"[^>]*value="([^"]*)"', body)
    page_rd = m.group(1).decode().replace("&amp;", "&") if m else ""
    sent = page_rd if via_page else rd
    n = len(srv.outbox_links())
    st, h, body = b.req("POST", "/magic/generate",
                        urllib.parse.urlencode({"email": DEMO, "rd": sent}),
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 200, f"generate with rd={sent[:80]!r}: {st} {body[:200]}")
    links = srv.outbox_links()
    check(len(links) == n + 1, "no new link in the outbox")
    path = links[-1]["link"][links[-1]["link"].index("/magic/verify/"):]
    st, h, body = b.req("POST", path)
    check(st == 303, f"verify: {st} {body[:200]}")
    return page_rd, h.get("location")


def main():
    srv = Magicd(workers=2)
    extra = (f"allowed_return_urls https://*.example.com/*;\n"
             f"allowed_return_urls http://127.0.0.1:{srv.port}/app/*;\n"
             f"default_return_url {DEFAULT};\n"
             "rate_limit_email 10000 1m;\nrate_limit_ip 10000 1m;\n")
    srv.write_conf(extra)
    with srv:
        b = Browser(srv)

        # No rd: the old behaviour.
        b.login_page()
        b.generate(DEMO)
        link = srv.outbox_links()[-1]["link"]
        st, h, _ = b.req("POST", link[link.index("/magic/verify/"):])
        check(st == 303 and h.get("location") == DEFAULT, f"no rd: {st} {h.get('location')}")
        print(f"ok: no return-to -> {DEFAULT}")

        for url in GOOD:
            page_rd, loc = verify_location(srv, b, url, via_page=True)
            check(page_rd, f"the sign-in page dropped the allowed {url!r}")
            u = urllib.parse.urlsplit(loc or "")
            w = urllib.parse.urlsplit(url)
            check(u.scheme == w.scheme.lower() and u.netloc == w.netloc.lower() and
                  u.path == w.path and u.query == w.query and u.fragment == w.fragment,
                  f"allowed {url!r}: verify sent the browser to {loc!r}")
        mine = f"http://127.0.0.1:{srv.port}/app/x?y=1&z=2"
        _, loc = verify_location(srv, b, mine, via_page=True)
        check(loc == mine, f"{mine!r} -> {loc!r}")
        print(f"ok: {len(GOOD) + 1} allowed return URLs followed exactly")

        bad = []
        for url in ATTACKS:
            for via_page in (True, False):
                try:
                    page_rd, loc = verify_location(srv, b, url, via_page)
                except AssertionError as e:
                    bad.append(f"{url!r}: {e}")
                    continue
                if via_page and page_rd:
                    bad.append(f"{url!r}: the sign-in page kept it as {page_rd!r}")
                if loc != DEFAULT:
                    bad.append(f"{url!r} (via page: {via_page}): Location {loc!r}")
        check(not bad, "open redirects:\n  " + "\n  ".join(bad))
        print(f"ok: {len(ATTACKS)} open-redirect tricks, each via the page and sent directly, "
              f"-> {DEFAULT}")

        # Return-to from the headers a proxy sets: /login redirects to itself
        # with the URL as an escaped rd, so nothing of the query is lost.
        for hdrs in ({"X-Original-URL": "https://app.example.com/p?a=1&b=2"},
                     {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com",
                      "X-Forwarded-Uri": "/p?a=1&b=2"}):
            st, h, _ = b.req("GET", "/login", headers=hdrs)
            loc = h.get("location", "")
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
            check(st in (302, 303) and urllib.parse.urlsplit(loc).path == "/login" and
                  q.get("rd") == ["https://app.example.com/p?a=1&b=2"],
                  f"/login with {hdrs}: {st} {loc!r}")
        # ...and the proxy's header naming the sign-in page itself is no loop.
        st, h, body = b.req("GET", "/login?rd=https%3A%2F%2Fapp.example.com%2Fq",
                            headers={"X-Original-URL": "https://app.example.com/login?rd=x"})
        check(st == 200 and b'value="https://app.example.com/q"' in body,
              f"/login reached through the proxy: {st}")
        # A header with a trick in it lands on the default like rd does.
        st, h, _ = b.req("GET", "/login", headers={"X-Original-URL": "//evil.com/"})
        loc = h.get("location", "")
        check(st == 200 or "evil" not in urllib.parse.unquote(loc).split("rd=")[0],
              f"/login with a bad X-Original-URL: {st} {loc!r}")
        # Too long to come back to: plain /login, never a page without Location.
        st, h, _ = b.req("GET", "/login",
                         headers={"X-Original-URL": "https://app.example.com/" + "a" * 2000})
        check(st == 302 and h.get("location") == "/login", f"long X-Original-URL: {st} {h}")
        print("ok: X-Original-URL and X-Forwarded-* -> /login?rd=<escaped>; too long -> /login")

        # A return-to that would push the link past one mail line (900 bytes)
        # is dropped rather than the link lost.
        longuser = "x" * 60 + "@" + "y" * 60 + "." + "z" * 60 + ".example.com"
        srv.run_cli("user", "add", longuser)
        b.login_page()
        rd = "https://app.example.com/" + "p" * 480
        n = len(srv.outbox_links())
        st, h, _ = b.req("POST", "/magic/generate",
                         urllib.parse.urlencode({"email": longuser, "rd": rd}),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        links = srv.outbox_links()
        check(st == 200 and len(links) == n + 1, f"generate for a long address: {st}")
        link = links[-1]["link"]
        check(len(link) <= 900, f"link of {len(link)} bytes")
        st, h, _ = b.req("POST", link[link.index("/magic/verify/"):])
        check(st == 303 and h.get("location") == DEFAULT, f"long link: {st} {h.get('location')}")
        print(f"ok: a return-to that would make the link too long for a mail line is dropped "
              f"(link of {len(link)} bytes without it) -> {DEFAULT}")

        # The verify page's script asks for JSON, so it can navigate to another
        # origin (single sign-on across subdomains), which fetch cannot follow.
        b.req("GET", "/login")
        b.req("POST", "/magic/generate",
              urllib.parse.urlencode({"email": DEMO, "rd": "https://app.example.com/j"}),
              {"Content-Type": "application/x-www-form-urlencoded"})
        link = srv.outbox_links()[-1]["link"]
        st, h, body = b.req("POST", link[link.index("/magic/verify/"):],
                            headers={"Accept": "application/json"})
        check(st == 200 and h.get("content-type", "").startswith("application/json"),
              f"verify with Accept: application/json: {st} {h.get('content-type')}")
        check(json.loads(body) == {"location": "https://app.example.com/j"}, body)
        print("ok: verify answers the script {location: ...} as JSON")
        srv.stop()

        # cookie_domain: the session cookie is shared with the subdomains; the
        # CSRF cookie stays on this host (it binds a link to the browser here).
        # (public_url under the cookie domain, as the config check insists.)
        srv.write_conf(extra + f"public_url http://login.example.com:{srv.port};\n"
                       "cookie_domain example.com;\n")
        srv.start()
        b = Browser(srv)
        st, h, _ = b.req("GET", "/login")
        check("Domain=" not in h.get("set-cookie", ""), f"csrf cookie: {h.get('set-cookie')}")
        m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', _)
        b.csrf = m.group(1).decode()
        b.generate(DEMO)
        link = srv.outbox_links()[-1]["link"]
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("POST", link[link.index("/magic/verify/"):], headers=b._hdrs(
            {"X-CSRF-Token": b.csrf}))
        r = c.getresponse()
        r.read()
        sc = [v for k, v in r.getheaders() if k.lower() == "set-cookie" and "session" in v]
        check(r.status == 303 and sc and "; Domain=example.com" in sc[0],
              f"session cookie with cookie_domain: {r.status} {sc}")
        c.close()
        print(f"ok: cookie_domain example.com -> {sc[0].split(';', 1)[0][:16]}...; "
              f"{sc[0].split(';', 1)[1].strip()}")
        srv.stop()

    # Config errors that say why.
    with Magicd(workers=1) as srv2:
        srv2.stop()
        for extra, want in (
                ("public_url https://login.example.org;\ncookie_domain example.com;\n",
                 "does not cover"),
                ("default_return_url //evil.com;\n", "default_return_url"),
                ("allowed_return_urls evil.com;\n", "allowed_return_urls"),
                ("cookie_domain .;\n", "cookie_domain")):
            srv2.write_conf(extra)
            r = subprocess.run([BIN, "-c", srv2.conf, "-t"], capture_output=True, text=True,
                               timeout=30)
            check(r.returncode != 0 and want in r.stderr,
                  f"-t with {extra.strip()!r}: rc {r.returncode} {r.stderr.strip()!r}")
            print(f"ok: -t refuses {extra.strip()!r}: {r.stderr.strip().splitlines()[0]}")
    print("PASS test_return_to")


if __name__ == "__main__":
    main()
