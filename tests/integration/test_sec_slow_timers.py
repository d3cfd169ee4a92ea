#!/usr/bin/env python3
"""Slow clients are still cut off on time now that a connection's timer is
re-armed lazily (core/event.c: pushing a deadline later only moves the
deadline; the heap catches up when the old time comes, and a timer that
fires while a request is handled is ignored; an earlier deadline moves
the timer up at once).

The attack mixes, on one worker so they share one timer heap, connections
whose timers are pushed back in every order: keep-alive connections that
make a few requests and then sit idle, connections that follow a request
with a head trickled a byte at a time (slowloris on a used connection:
the header deadline runs from the head's first byte, not from the last
request), connections that follow one with a body trickled a byte at a
time (body_deadline bounds it), and connections that never send a byte.
Each must be closed (with 408 where a request was begun) within its
timeout and a margin, and none before it."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Magicd, check  # noqa: E402
from conn_util import GET, connect, read_response, status, victim_ok  # noqa: E402

HEADER, BODY_GAP, BODY_DEADLINE, IDLE = 1.0, 1.0, 2.0, 4.0
LATE = 1.0  # a loaded machine's margin; a timer that is lost fires at another's time, or never
EARLY = 0.5  # a closed connection seen early is a bug too, but the margin is for the scheduler

results = []
lock = threading.Lock()


def record(kind, i, began, ended, resp, want_status):
    with lock:
        results.append((kind, i, ended - began, status(resp) if resp else None, want_status))


def wait_close(s, limit):
    """Read until the server closes; (time of the close, bytes read)."""
    data = b""
    s.settimeout(0.1)
    end = time.time() + limit
    while time.time() < end:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not d:
            break
        data += d
    return time.time(), data


def pause(i):
    """Idle between the request and the slow one: under the header timeout
    (the heap still holds the connection at its first deadline), or past
    it (the heap has caught up with the keep-alive deadline, and the slow
    request's earlier deadline must move the timer up)."""
    return 0.05 * (i % 5) if i % 2 else HEADER + 0.3 + 0.05 * (i % 5)


def keepalive(i):
    s = connect(srv)
    for k in range(3):
        if k:
            time.sleep(0.1 * (i % 4))
        s.sendall(GET)
        check(status(read_response(s)) == 200, "keep-alive request answered")
    t0 = time.time()
    t1, data = wait_close(s, IDLE + 10)
    record("idle keep-alive", i, t0, t1, None, None)
    s.close()


def slow_head(i):
    s = connect(srv)
    s.sendall(GET)
    check(status(read_response(s)) == 200, "first request answered")
    time.sleep(pause(i))
    head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 200
    t0 = time.time()
    s.settimeout(0.15)
    resp = b""
    t1 = None
    for b in head:
        try:
            s.sendall(bytes([b]))
            d = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        t1 = time.time()
        resp = d
        break
    end, rest = wait_close(s, HEADER + 10)
    t1 = t1 or end
    record("slow head after a request", i, t0, t1, resp + rest, 408)
    s.close()


def slow_body(i):
    s = connect(srv)
    s.sendall(GET)
    check(status(read_response(s)) == 200, "first request answered")
    time.sleep(pause(i))
    s.sendall(b"POST /magic/generate HTTP/1.1\r\nHost: a\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
    t0 = time.time()
    s.settimeout(0.3)
    resp = b""
    while time.time() - t0 < BODY_DEADLINE + 10:
        try:
            s.sendall(b"a")
            resp = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            pass
        break
    t1 = time.time()
    _, rest = wait_close(s, 3)
    record("body trickled after a request", i, t0, t1, resp + rest, 408)
    s.close()


def silent(i):
    s = connect(srv)
    t0 = time.time()
    t1, data = wait_close(s, HEADER + 10)
    record("never a byte", i, t0, t1, data or None, None)
    s.close()


with Magicd(workers=1, extra=f"header_timeout {int(HEADER * 1000)}ms;\n"
                             f"body_timeout {int(BODY_GAP * 1000)}ms;\n"
                             f"body_deadline {int(BODY_DEADLINE * 1000)}ms;\n"
                             f"keepalive_timeout {int(IDLE * 1000)}ms;\n") as srv:
    threads = []
    for i in range(24):
        for fn in (keepalive, slow_head, slow_body, silent):
            threads.append(threading.Thread(target=fn, args=(i,)))
    t_start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "a client thread never finished")
    print(f"{len(threads)} clients done in {time.time() - t_start:.1f}s")
    limits = {"idle keep-alive": IDLE, "slow head after a request": HEADER,
              "body trickled after a request": BODY_DEADLINE, "never a byte": HEADER}
    bad = []
    worst = {}
    for kind, i, el, st, want in results:
        lim = limits[kind]
        worst[kind] = max(worst.get(kind, 0), el)
        if el > lim + LATE or el < lim - EARLY or st != want:
            bad.append(f"{kind} #{i}: closed after {el:.2f}s (timeout {lim}s), status {st}")
    for kind, el in sorted(worst.items()):
        print(f"{kind}: the slowest closed after {el:.2f}s (timeout {limits[kind]}s)")
    check(len(results) == len(threads), f"{len(results)} results of {len(threads)}")
    check(not bad, "timeouts not kept:\n" + "\n".join(bad[:20]))
    check(not victim_ok(srv, "127.0.0.2", 3), "the server still serves others")
    srv.check_sanitizers()
print("ok")
