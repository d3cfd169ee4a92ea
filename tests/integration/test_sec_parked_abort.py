#!/usr/bin/env python3
"""Clients that reset their connection while their POST /magic/generate is
parked do not disturb anyone else's answer.

A generate parks while its link (or an unknown address's decoy) is made
durable: with `delivery smtp` until the worker's group commit has synced
it, with `delivery outbox` until the loop iteration's lines are written.
The struct it parks on comes from a free list (core/freelist.h), so the
block a reset client gave back is handed to the next generate at once,
while the group commit still holds the first one's (cancelled) entry. An
entry that was not cancelled, or a block freed twice, would answer one
client with another's page, or twice, or not at all.

The attack, on one worker (one free list), in waves: browsers that stay
for their answer, interleaved with browsers that send the same request,
known address or not, and reset the connection (RST) a moment later,
while it is parked. Every browser that stayed gets 200 with its own
address on the page and a ticket of its own; the worker does not crash;
under the sanitizers, no report. Run with fsync slowed to 200 ms (a
reset lands in the middle of the sync) and with the outbox."""
import os
import random
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Browser, Magicd, check, free_port, skip  # noqa: E402
from conn_util import read_response, status, victim_ok  # noqa: E402
from spool_util import build_slow_fsync, shim_env  # noqa: E402

WAVES, PER_WAVE = 4, 24


def raw_generate(srv, b, email):
    body = ("email=" + email.replace("@", "%40")).encode()
    head = (f"POST /magic/generate HTTP/1.1\r\nHost: a\r\n"
            f"Cookie: {'; '.join(f'{k}={v}' for k, v in b.cookies.items())}\r\n"
            f"X-CSRF-Token: {b.csrf}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    s.sendall(head + body)
    return s


def leave(s, after):
    time.sleep(after)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # RST: the worker sees the client gone while the request is parked


def attack(srv, known, hold):
    rnd = random.Random(1)
    browsers = []
    for _ in range(PER_WAVE):
        b = Browser(srv)
        b.login_page()
        browsers.append(b)
    pid = srv.worker_pids()
    bad, tickets, answered = [], {}, 0
    for wave in range(WAVES):
        results = {}

        def stay(i, email):
            try:
                s = raw_generate(srv, browsers[i], email)
                resp = read_response(s)
                s.close()
            except OSError as e:
                resp = repr(e).encode()
            results[i] = (email, resp)

        def go(i, email):
            try:
                leave(raw_generate(srv, browsers[i], email), rnd.random() * hold)
            except OSError:
                pass

        threads = []
        for i in range(PER_WAVE):
            # known or unknown (a decoy), stay or leave, in a shuffled order
            email = known[(wave * PER_WAVE + i) % len(known)] if i % 3 else f"nobody{wave}-{i}@example.com"
            fn = stay if i % 2 == 0 else go
            threads.append(threading.Thread(target=fn, args=(i, email)))
        rnd.shuffle(threads)
        for t in threads:
            t.start()
            time.sleep(0.002)
        for t in threads:
            t.join(30)
        for i, (email, resp) in sorted(results.items()):
            m = re.search(rb'<strong id="sent-email">([^<]*)</strong>', resp)
            tk = re.search(rb'name="ticket" value="([^"]+)"', resp)
            if status(resp) != 200 or not m or m.group(1).decode() != email or not tk:
                bad.append(f"wave {wave} #{i} ({email}): {resp[:200]!r}")
                continue
            answered += 1
            t = tk.group(1)
            if t in tickets:
                bad.append(f"wave {wave} #{i}: the ticket of {tickets[t]} again")
            tickets[t] = email
    check(not bad, "a client that stayed got a wrong answer:\n" + "\n".join(bad[:10]))
    check(answered == WAVES * PER_WAVE // 2, f"{answered} answered")
    check(srv.worker_pids() == pid, "the worker was replaced (it crashed)")
    check(not victim_ok(srv, "127.0.0.2", 3), "the server still serves others")
    print(f"{answered} staying clients answered with their own page, "
          f"{WAVES * PER_WAVE // 2} reset while parked")


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    known = [f"u{i}@example.com" for i in range(16)]
    limits = "rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n"

    srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{free_port()}", users=known)
    srv.write_conf(srv.extra + f"\nsmtp_spool {os.path.join(srv.tmp, 'spool')};\n"
                   "smtp_starttls off;\n" + limits)
    so = build_slow_fsync(srv.tmp)
    srv.start(env=shim_env(so, 200, os.path.join(srv.tmp, "fsync.log")))
    try:
        attack(srv, known, 0.4)
    finally:
        srv.stop()
    srv.check_sanitizers()

    with Magicd(workers=1, users=known, extra=limits) as srv:
        attack(srv, known, 0.01)
    print("ok")


if __name__ == "__main__":
    main()
