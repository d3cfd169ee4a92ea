#!/usr/bin/env python3
"""Key rotation does not log anyone out: with the old key configured as
previous_key_file, a link issued (and a CSRF token, a sign-in code and a
session made) under the old key still work after a reload onto a new key;
once the previous key is dropped, they stop working: a code, a CSRF
pair and a session of the old key are refused, while those of the new
key go on. The MACs (CSRF, codes) start from per-key precomputed states
(app/hmac_cache.c): nothing of a dropped key may still count after the
reload. Real server, real reloads."""
import os
import re
import shutil
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402
from code_util import ask, send_code  # noqa: E402


def reload(srv, extra):
    """Rewrite the config and HUP; wait until only new workers serve."""
    srv.write_conf(srv.extra + "\n" + extra)
    srv.reload()


def latest_link(srv, email):
    deadline = time.time() + 5
    while time.time() < deadline:
        links = [x for x in srv.outbox_links() if x.get("to") == email]
        if links:
            return urllib.parse.urlsplit(links[-1]["link"]).path
        time.sleep(0.05)
    raise AssertionError("no link in the outbox")


def verify(b, path):
    """As the verify page's script does: take the token from this page's
    meta tag (after a rotation it is the token under the new key) and post
    the link back with it."""
    st, _, body = b.req("GET", path)
    check(st == 200, f"GET {path}: {st}")
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    check(m, "no csrf meta tag on the verify page")
    b.csrf = m.group(1).decode()
    return b.req("POST", path)


def secure_ok(b):
    st, h, body = b.req("POST", "/secure/1")
    return st == 200 and DEMO.encode() in body


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=2, extra="rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;")
    try:
        with srv:
            run(srv)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)
    print("ok")


def run(srv):
    key = os.path.join(srv.tmp, "magicd.key")
    old = os.path.join(srv.tmp, "magicd.key.old")

    # Under key A: a logged-in browser, and a second one holding an unused link.
    a = Browser(srv)
    a.login_page()
    st, _, _ = a.generate(DEMO)
    check(st == 200, f"generate: {st}")
    st, h, _ = verify(a, latest_link(srv, DEMO))
    check(st in (302, 303) and "/secure/1" in h.get("location", ""), f"verify under A: {st} {h}")
    check(secure_ok(a), "session under key A does not work")

    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate: {st}")
    link_b = latest_link(srv, DEMO)

    # Sign-in codes asked for under key A: one to use during the overlap,
    # one to try after A is dropped; and a browser whose CSRF pair is A's.
    code_a = Browser(srv)
    code_a.login_page()
    ticket_a, d_a = ask(srv, code_a)
    late = Browser(srv)
    late.login_page()
    ticket_late, d_late = ask(srv, late)
    stale = Browser(srv)
    stale.login_page()

    # Rotate: A becomes the previous key, B the current one.
    os.rename(key, old)
    srv.run_cli("keygen")
    reload(srv, f"previous_key_file {old};")

    check(secure_ok(a), "session made under the previous key was rejected after rotation")
    st, h, _ = verify(b, link_b)  # CSRF token and link both from key A
    check(st in (302, 303) and "/secure/1" in h.get("location", ""),
          f"link made under the previous key: {st} {h}")
    check(secure_ok(b), "new session after rotation does not work")
    st, h, body = send_code(code_a, ticket_a, d_a["code"])
    check(st == 303 and h.get("location") == "/secure/1",
          f"a code asked for under the previous key: {st} {body[:300]}")

    # A fresh login under key B works as well.
    c = Browser(srv)
    c.login_page()
    st, _, _ = c.generate(DEMO)
    check(st == 200, f"generate under B: {st}")
    st, h, _ = verify(c, latest_link(srv, DEMO))
    check(st in (302, 303), f"verify under B: {st}")

    ticket_c, d_c = ask(srv, c)  # a code under B, used after A is dropped

    # Drop the previous key: A-era sessions end, B-era ones continue.
    reload(srv, "")
    check(not secure_ok(a), "session made under a dropped key still works")
    check(secure_ok(c), "session made under the current key stopped working")
    st, _, body = send_code(late, ticket_late, d_late["code"])
    check(st >= 400 and "session" not in late.cookies,
          f"a code of a dropped key signed in: {st} {body[:300]}")
    st, _, body = stale.generate(DEMO)
    check(st == 403, f"a CSRF pair of a dropped key was taken: {st} {body[:200]}")
    st, h, body = send_code(c, ticket_c, d_c["code"])
    check(st == 303, f"a code of the current key after the drop: {st} {body[:300]}")


if __name__ == "__main__":
    main()
