#!/usr/bin/env python3
"""Nothing lost silently (issue 9.5).

  1. Outbox on a full disk (a tiny tmpfs): the write that does not fit is
     answered 503 and rolled back, so the file never holds a partial line;
     once there is room again the next link is a whole line, and every link
     that was answered 200 is in the outbox and parses. (Today the partial
     line stays without its newline and the next link is glued to it.)
  2. The store (the used-link ledger) deleted under the running server:
     a redeem is refused with 503 instead of being recorded in a file that
     no longer exists; after a reload the link works once, then 410.
  3. The store replaced (a backup restored by rename) under the running
     server: a redeem is refused with 503, so no redemption is recorded
     in the old file and lost; after a reload (the new file) the link is
     redeemed once and a replay is 410. (Today the redeem succeeds into the
     old file, and after the reload the same link signs in again.)
"""
import os
import shutil
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402
from attack_util import Client, Tmpfs, outbox_entries, real_links  # noqa: E402

LIMITS = "rate_limit_email 1000000 1m;\nrate_limit_ip 1000000 1m;\n"


def outbox_short_write(fs):
    outbox = os.path.join(fs.dir, "outbox.jsonl")
    srv = Magicd(workers=2, delivery=f"outbox {outbox}", extra=LIMITS)
    srv.outbox = outbox
    promised = []  # ids of links answered 200
    try:
        with srv:
            c = Client(srv)

            def ask():
                before = {e["id"] for e in real_links(outbox_entries(outbox))}
                st, _, _ = c.generate(DEMO)
                if st == 200:
                    new = [e["id"] for e in real_links(outbox_entries(outbox))
                           if e["id"] not in before]
                    check(len(new) == 1, f"200 but {len(new)} new links")
                    promised.append(new[0])
                return st

            for _ in range(3):
                check(ask() == 200, "generate before the disk is full")
            filler = fs.fill()
            # Fill the outbox's last page; the line that crosses into a new
            # page is a short write.
            for i in range(40):
                st = ask()
                if st != 200:
                    break
            check(st == 503, f"a link that did not fit was answered {st}")
            size = os.path.getsize(outbox)
            data = open(outbox, "rb").read()
            check(data.endswith(b"\n"), f"partial line left in the outbox: {data[-60:]!r}")
            print(f"ok: the line that did not fit: 503, outbox rolled back to {size} bytes")
            check(ask() == 503, "second try on a full disk")
            check(os.path.getsize(outbox) == size, "outbox grew on a failed write")
            os.unlink(filler)
            for _ in range(3):
                check(ask() == 200, "generate after freeing the disk")
            ids = [e["id"] for e in real_links(outbox_entries(outbox))]  # every line parses
            missing = [i for i in promised if i not in ids]
            check(not missing, f"{len(missing)} links answered 200 are not in the outbox")
            print(f"ok: room again: all {len(promised)} links answered 200 are readable")
            c.close()
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


def new_link(srv, b):
    n = len(real_links(outbox_entries(srv.outbox)))
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate: {st}")
    links = real_links(outbox_entries(srv.outbox))
    check(len(links) == n + 1, "no new link in the outbox")
    return urllib.parse.urlsplit(links[-1]["link"]).path


def reload(srv):
    srv.reload()
    time.sleep(0.2)


def store_deleted(srv):
    b = Browser(srv)
    b.login_page()
    path = new_link(srv, b)
    db = os.path.join(srv.tmp, "users.db")
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    st, _, body = b.req("POST", path)
    check(st == 503, f"redeem with the store deleted: {st} (must fail closed)")
    check(b"unavailable" in body, f"503 page: {body[:200]!r}")
    print("ok: store deleted under the server: redeem answered 503")
    # The operator puts a store back and reloads: the link was never used.
    srv.run_cli("user", "add", DEMO)
    reload(srv)
    st, _, _ = b.req("POST", path)
    check(st == 303, f"after the reload the unused link: {st}")
    st, _, _ = b.req("POST", path)
    check(st == 410, f"replay after the reload: {st}")
    print("ok: after the reload the link works once, the replay is 410")


def store_replaced(srv):
    b = Browser(srv)
    b.login_page()
    db = os.path.join(srv.tmp, "users.db")
    backup = os.path.join(srv.tmp, "users.backup.db")
    src = sqlite3.connect(db)
    dst = sqlite3.connect(backup)
    src.backup(dst)
    dst.close()
    src.close()
    path = new_link(srv, b)
    # Restore the backup the way people do: rename over, drop the old WAL.
    os.replace(backup, db)
    for suffix in ("-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    st, _, _ = b.req("POST", path)
    check(st == 503, f"redeem with the store replaced: {st} (must fail closed)")
    print("ok: store replaced under the server: redeem answered 503")
    reload(srv)
    st, _, _ = b.req("POST", path)
    check(st == 303, f"after the reload: {st}")
    st, _, _ = b.req("POST", path)
    check(st == 410, f"replay after the reload: {st} (the link signed in twice)")
    print("ok: after the reload the link is redeemed once; the replay is 410")


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=2, extra=LIMITS)
    try:
        with srv:
            store_replaced(srv)
            store_deleted(srv)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)
    fs = Tmpfs("128k")
    try:
        outbox_short_write(fs)
    finally:
        fs.umount()
    print("ok")


if __name__ == "__main__":
    main()
