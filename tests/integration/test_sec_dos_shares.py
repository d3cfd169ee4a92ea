#!/usr/bin/env python3
"""One or two client addresses must not take a worker's shared resources
from everybody else (attacks on the running server, shipped defaults
otherwise):

1. buffer memory: one address opens a few hundred connections, each sends
   a large head and most of a body and stalls. Their buffers fill the
   worker's worker_connection_memory; a bystander from another address must
   still be served (the heaviest address's stalled connections are shed,
   not the newcomer).
2. connection slots: two addresses fill worker_connections with request
   heads they never finish (no idle keep-alive connection to evict); a
   bystander from a third address must still be served (the oldest
   unfinished head of the address holding the most connections is closed
   for it).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Magicd, check  # noqa: E402
from conn_util import connect, victim_ok  # noqa: E402

BIG_HEAD = (b"POST /magic/generate HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 15000 +
            b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 16000\r\n\r\n" + b"e" * 15900)


def open_stalled(srv, src, n, payload):
    socks = []
    for _ in range(n):
        try:
            s = connect(srv, src)
            s.sendall(payload)
            socks.append(s)
        except OSError:
            break
    return socks


def memory_share():
    # A small budget so a few hundred connections reach it quickly; the
    # per-address cap stays at its shipped 512.
    with Magicd(workers=1, extra="worker_connection_memory 4m;\nbody_deadline 60s;\n"
                "body_timeout 60s;\nheader_timeout 60s;\n") as srv:
        socks = open_stalled(srv, "127.0.0.5", 300, BIG_HEAD)
        # then small unfinished heads (one buffer chunk each) into what the
        # big ones left, so not even one chunk is free for a newcomer
        socks += open_stalled(srv, "127.0.0.5", 200, b"GET / HTTP/1.1\r\nX: y\r\n")
        time.sleep(0.5)
        print(f"attacker holds {len(socks)} stalled connections")
        bad = victim_ok(srv, "127.0.0.9")
        check(not bad, f"a bystander was refused while one address held the buffers: {bad}")
        check("shedding" in srv.log(), "the log does not say which address was shed")
        for s in socks:
            s.close()
        print("ok: memory budget: the heaviest address is shed, a bystander is served")


def slot_share():
    with Magicd(workers=1, extra="worker_connections 64;\nheader_timeout 60s;\n") as srv:
        socks = open_stalled(srv, "127.0.0.5", 32, b"GET / HTTP/1.1\r\n")
        socks += open_stalled(srv, "127.0.0.6", 40, b"GET / HTTP/1.1\r\n")
        time.sleep(0.3)
        print(f"attackers hold {len(socks)} unfinished heads")
        bad = victim_ok(srv, "127.0.0.9")
        check(not bad, f"a bystander was refused while two addresses held every slot: {bad}")
        for s in socks:
            s.close()
        print("ok: connection slots: an unfinished head of the heaviest address makes room")


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    memory_share()
    slot_share()
    print("ok")
