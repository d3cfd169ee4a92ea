"""Resource exhaustion attacks on the connection layer, against the running
server:

1. slow body: a POST whose body arrives one byte every half second. The
   body timer measures the gap between reads, so on its own it never fires;
   body_deadline bounds the whole body and the connection ends with 408.
2. slow headers: header bytes one at a time; header_timeout counts from the
   first byte, so it is a deadline too.
3. one client, many idle keep-alive connections (2,300 with the shipped
   worker_connections of 1024 per worker): everyone else must still be
   served. max_connections_per_ip refuses the excess, and a worker that is
   full closes its oldest idle keep-alive connection for a new client.
4. one client, many connections that send half a request head and stall
   (slowloris): they are not idle, so only the per-IP cap keeps room for
   the others.
5. a full worker evicts the oldest idle connection, not a busy one.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Magicd, check  # noqa: E402
from conn_util import GET, connect, read_response, status, victim_ok  # noqa: E402,F401

def trickle(srv, head, every, limit):
    """Send head, then one byte every `every` s; return (elapsed, response)
    when the server ends the exchange, or (limit, b"") when it never does."""
    s = connect(srv)
    s.sendall(head)
    s.settimeout(every)
    t0 = time.time()
    resp = b""
    while time.time() - t0 < limit:
        try:
            d = s.recv(4096)
            if not d:
                break
            resp += d
            continue
        except socket.timeout:
            pass
        except OSError:
            break
        try:
            s.sendall(b"a")
        except OSError:
            break
    s.close()
    return time.time() - t0, resp


# 1 + 2: deadlines on slow requests.
with Magicd(workers=1, extra="header_timeout 2s;\nbody_timeout 2s;\nbody_deadline 3s;") as srv:
    el, resp = trickle(srv, b"POST /magic/generate HTTP/1.1\r\nHost: a\r\n"
                            b"Content-Type: application/x-www-form-urlencoded\r\n"
                            b"Content-Length: 4000\r\n\r\n", 0.5, 15)
    print(f"slow body: ended after {el:.1f}s: {resp[:40]!r}")
    check(el < 8, f"a body trickled a byte every 0.5 s held the connection {el:.1f}s "
                  "(body_deadline 3s)")
    check(status(resp) == 408, f"slow body gets 408, got {resp[:60]!r}")

    el, resp = trickle(srv, b"GET /healthz HTTP/1.1\r\n", 0.3, 15)
    print(f"slow headers: ended after {el:.1f}s: {resp[:40]!r}")
    check(el < 6, f"headers trickled a byte every 0.3 s held the connection {el:.1f}s")
    check(status(resp) == 408, f"slow headers get 408, got {resp[:60]!r}")
    check(not victim_ok(srv, "127.0.0.2", 3), "server still serving")

# 3 + 4: one client cannot lock the others out (shipped defaults for the
# cap and worker_connections: the harness writes worker_connections 1024).
with Magicd(workers=2) as srv:
    idle = []
    served = refused = 0
    for i in range(2300):
        try:
            s = connect(srv, "127.0.0.1")
            s.sendall(GET)
            st = status(read_response(s))
        except OSError:
            st = None
        if st == 200:
            served += 1
            idle.append(s)
        else:
            refused += 1
            s.close()
    print(f"idle flood from one address: {served} served and held, {refused} refused")
    bad = victim_ok(srv, "127.0.0.2", 20)
    check(not bad, f"with 2,300 idle connections from 127.0.0.1, another client got {bad}")
    check(refused > 0, "the flood's excess connections are refused by max_connections_per_ip")

    stall = []
    for i in range(1200):
        try:
            s = connect(srv, "127.0.0.3")
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            stall.append(s)
        except OSError:
            break
    time.sleep(0.5)
    alive = 0
    for s in stall:
        s.setblocking(False)
        try:
            d = s.recv(4096)
            alive += 0 if d == b"" or d.startswith(b"HTTP/1.1 503") else 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print(f"slowloris from one address: {alive} of {len(stall)} connections held")
    check(alive <= 1100, f"one address holds {alive} half-sent requests: no per-IP cap")
    bad = victim_ok(srv, "127.0.0.4", 20)
    check(not bad, f"with idle and stalled floods, another client got {bad}")
    for s in idle + stall:
        s.close()

# 5: a full worker closes its oldest idle connection for a newcomer.
with Magicd(workers=1, extra="worker_connections 64;\nmax_connections_per_ip 0;") as srv:
    conns = []
    for i in range(64):
        s = connect(srv)
        s.sendall(GET)
        check(status(read_response(s)) == 200, f"connection {i} served")
        conns.append(s)
        time.sleep(0.005)
    busy = conns[1]
    busy.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")  # half a head: not idle
    time.sleep(0.2)
    bad = victim_ok(srv, "127.0.0.2", 1)
    check(not bad, f"a full worker refused a new client: {bad}")
    conns[0].settimeout(2)
    check(read_response(conns[0]) == b"", "the oldest idle connection was closed for it")
    busy.sendall(b"\r\n")
    busy.settimeout(2)
    check(status(read_response(busy)) == 200, "the busy connection was left alone")
    for s in conns:
        s.close()
print("ok")
