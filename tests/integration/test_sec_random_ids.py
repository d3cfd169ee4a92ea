#!/usr/bin/env python3
"""No two workers hand out the same random bytes.

Nonces and link ids come from a per-process pool filled by RAND_bytes
4 KiB at a time (app/token.c), emptied in every fork child by an atfork
handler. Workers are forked by one master, again at every reload: if a
pool filled before a fork reached two children, both would seal with the
same AES-GCM nonces under one key (which gives away the XOR of the two
plaintexts and lets the tag key be recovered) and mail the same link ids.

Attack: four workers, a burst of concurrent generates right after start
(every worker's first draws), then a reload (fresh workers from the same
master) and another burst. Every link id in the outbox and every nonce
of the tickets on the pages must be distinct, across workers and across
generations. (The atfork handler itself, with a pool filled before the
fork, is tested in tests/unit/app/test_token.c.)"""
import base64
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Browser, Magicd, check, skip  # noqa: E402

USERS = [f"r{i}@example.com" for i in range(40)]


def burst(srv, nonces):
    browsers = []
    for _ in USERS:
        b = Browser(srv)
        b.login_page()
        browsers.append(b)
    pages = [None] * len(USERS)
    go = threading.Event()

    def gen(i):
        go.wait()
        pages[i] = browsers[i].generate(USERS[i])

    ts = [threading.Thread(target=gen, args=(i,)) for i in range(len(USERS))]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join(30)
    for i, p in enumerate(pages):
        check(p and p[0] == 200, f"generate {i}: {p and p[0]}")
        m = re.search(rb'name="ticket" value="([^"]+)"', p[2])
        check(m, "no ticket on the page")
        raw = base64.urlsafe_b64decode(m.group(1) + b"=" * (-len(m.group(1)) % 4))
        nonces.append(raw[5:17])  # version, key id, then the 12-byte nonce


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    with Magicd(workers=4, users=USERS,
                extra="rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n") as srv:
        nonces = []
        burst(srv, nonces)
        srv.reload()
        burst(srv, nonces)
        deadline = time.time() + 5
        while time.time() < deadline and len(srv.outbox_links()) < 2 * len(USERS):
            time.sleep(0.05)
        ids = [d["id"] for d in srv.outbox_links()]
        check(len(ids) == 2 * len(USERS), f"{len(ids)} links in the outbox")
        check(len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} link ids repeated")
        check(len(set(nonces)) == len(nonces),
              f"{len(nonces) - len(set(nonces))} ticket nonces repeated")
        print(f"ok: {len(ids)} link ids and {len(nonces)} nonces from 4 workers, "
              "two generations, all distinct")


if __name__ == "__main__":
    main()
