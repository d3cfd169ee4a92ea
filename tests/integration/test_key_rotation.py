#!/usr/bin/env python3
"""Key rotation does not log anyone out: with the old key configured as
previous_key_file, a link issued (and a CSRF token and a session made)
under the old key still work after a reload onto a new key; once the
previous key is dropped, they stop working. Real server, real reloads."""
import os
import re
import shutil
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402


def reload(srv, extra):
    """Rewrite the config and HUP; wait until only new workers serve."""
    old = set(srv.worker_pids())
    srv.write_conf(srv.extra + "\n" + extra)
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline:
        now = set(srv.worker_pids())
        if now and not (now & old):
            return
        time.sleep(0.1)
    raise AssertionError("reload did not replace the workers\n" + srv.log())


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
    srv = Magicd(workers=2)
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

    # Rotate: A becomes the previous key, B the current one.
    os.rename(key, old)
    srv.run_cli("keygen")
    reload(srv, f"previous_key_file {old};")

    check(secure_ok(a), "session made under the previous key was rejected after rotation")
    st, h, _ = verify(b, link_b)  # CSRF token and link both from key A
    check(st in (302, 303) and "/secure/1" in h.get("location", ""),
          f"link made under the previous key: {st} {h}")
    check(secure_ok(b), "new session after rotation does not work")

    # A fresh login under key B works as well.
    c = Browser(srv)
    c.login_page()
    st, _, _ = c.generate(DEMO)
    check(st == 200, f"generate under B: {st}")
    st, h, _ = verify(c, latest_link(srv, DEMO))
    check(st in (302, 303), f"verify under B: {st}")

    # Drop the previous key: A-era sessions end, B-era ones continue.
    reload(srv, "")
    check(not secure_ok(a), "session made under a dropped key still works")
    check(secure_ok(c), "session made under the current key stopped working")


if __name__ == "__main__":
    main()
