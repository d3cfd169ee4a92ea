#!/usr/bin/env python3
"""Global rate limits (rate_limit_store redis://...): two magicd nodes, each
with its own config, ports and two workers, share one real redis-server and
one key file.

- The per-address limit (5 links) holds across both nodes: 3 requests
  through A and 2 through B pass, the 6th and 7th (one on each) get 429.
  The per-IP limit is counted across nodes the same way.
- Redis holds only keyed hashes: no key names the address.
- SCRIPT FLUSH (Redis forgot the script): the next check reloads it
  (NOSCRIPT -> EVAL) and the shared count goes on.
- Redis killed: every node falls back to its own shared-memory limiter
  (5 per node for a fresh address, then 429), says so once in its log
  (one line per node, not per worker) and in /metrics
  (magicd_rate_limit_store_up 0, magicd_rate_limit_fallbacks_total > 0);
  nothing is refused for want of Redis.
- Redis back on the same port: each node says so once, the gauge is 1
  again within a few seconds, and a fresh address is limited across both
  nodes again.
- Redis hung (SIGSTOP: the socket accepts, nothing answers): a request
  waits no longer than about rate_limit_store_timeout, is decided locally,
  and the node says so once; after SIGCONT it is used again.
"""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402
from services import Redis  # noqa: E402

USERS = (DEMO, "fallback@example.com", "again@example.com", "flush@example.com",
         "hung@example.com")


def metric(srv, name):
    st, _, body = srv.pprof("/metrics", timeout=10)
    check(st == 200, f"/metrics: {st}")
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", body, re.M)
    return int(m.group(1)) if m else None


def wait_metric(srv, name, want, timeout=8):
    end = time.time() + timeout
    while time.time() < end:
        if metric(srv, name) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} != {want} on :{srv.port} after {timeout}s\n{srv.log()[-2000:]}")


def gen(srv, email, n):
    """n generate requests for email through srv, each from a fresh browser
    (its own CSRF pair); the statuses."""
    out = []
    for _ in range(n):
        b = Browser(srv)
        b.login_page()
        st, _, _ = b.generate(email)
        out.append(st)
    return out


def count(srv, text):
    return srv.log().count(text)


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    with Redis() as r:
        extra = (f"rate_limit_store {r.url};\nrate_limit_store_timeout 300ms;\n"
                 "rate_limit_email 5 15m;\nrate_limit_ip 24 15m;\n")
        a = Magicd(workers=2, extra=extra, users=USERS)
        b = Magicd(workers=2, extra=extra, users=USERS)
        shutil.copyfile(os.path.join(a.tmp, "magicd.key"), os.path.join(b.tmp, "magicd.key"))
        try:
            with a, b:
                run(r, a, b)
        finally:
            shutil.rmtree(a.tmp, ignore_errors=True)
            shutil.rmtree(b.tmp, ignore_errors=True)
    print("ok")


def run(r, a, b):
    for s in (a, b):
        wait_metric(s, "magicd_rate_limit_store_up", 1)

    # One limit across both nodes: 3 + 2 pass, then one refused on each.
    got = gen(a, DEMO, 3) + gen(b, DEMO, 2)
    check(got == [200] * 5, f"the first five across A and B: {got}")
    got = gen(a, DEMO, 1) + gen(b, DEMO, 1)
    check(got == [429, 429], f"the 6th (A) and 7th (B): {got}")
    for s in (a, b):
        check(metric(s, "magicd_rate_limit_fallbacks_total") == 0,
              f"no fallback while Redis is up on :{s.port}")

    # Redis holds hashes, never the address or the IP.
    keys = r.command("KEYS", "*")
    check("magicd:rl:" in keys, f"no rate-limit keys in Redis: {keys!r}")
    check("example.com" not in keys and "127.0.0.1" not in keys, f"plain keys: {keys!r}")

    # The script cache flushed: NOSCRIPT, then EVAL loads it again, and the
    # shared count goes on (3 + 2, then 429).
    check("OK" in r.command("SCRIPT", "FLUSH"), "SCRIPT FLUSH")
    got = gen(b, "flush@example.com", 3) + gen(a, "flush@example.com", 3)
    check(got == [200] * 5 + [429], f"after SCRIPT FLUSH: {got}")

    # The per-IP limit (24) is shared too: 7 + 6 requests so far, from
    # 127.0.0.1 through both nodes. 11 more pass, then 429, on either.
    got = gen(a, "ip1@example.com", 5) + gen(b, "ip2@example.com", 5) + gen(a, "ip3@example.com", 1)
    check(got == [200] * 11, f"requests 14..24 from this IP: {got}")
    got = gen(b, "ip4@example.com", 1)
    check(got == [429], f"the 25th request from this IP, on B: {got}")
    r.command("FLUSHALL")  # a clean slate for the IP before the outage

    # Redis gone: each node on its own limits, said once per node.
    down = "rate_limit_store " + r.url[len("redis://"):] + " unavailable"
    r.stop()
    for s in (a, b):
        got = gen(s, "fallback@example.com", 6)
        check(got == [200] * 5 + [429], f"local limits on :{s.port} without Redis: {got}")
        wait_metric(s, "magicd_rate_limit_store_up", 0)
        check(metric(s, "magicd_rate_limit_fallbacks_total") >= 6,
              f"fallbacks counted on :{s.port}")
    time.sleep(1.5)  # a few reconnect attempts fail meanwhile: still one line
    for s in (a, b):
        check(count(s, down) == 1, f"'{down}' logged {count(s, down)} times on :{s.port}:\n"
              + s.log()[-2000:])

    # Redis back on its port: used again, said once.
    r.start()
    for s in (a, b):
        wait_metric(s, "magicd_rate_limit_store_up", 1)
        check(count(s, "reachable again") == 1, f"'reachable again' on :{s.port}:\n"
              + s.log()[-2000:])
    before = [metric(s, "magicd_rate_limit_fallbacks_total") for s in (a, b)]
    got = gen(a, "again@example.com", 2) + gen(b, "again@example.com", 3)
    check(got == [200] * 5, f"after Redis came back, the first five: {got}")
    got = gen(a, "again@example.com", 1)
    check(got == [429], f"after Redis came back, the 6th (shared again): {got}")
    after = [metric(s, "magicd_rate_limit_fallbacks_total") for s in (a, b)]
    check(after == before, f"no fallback once Redis is back: {before} -> {after}")
    for s in (a, b):
        check(count(s, down) == 1, f"still one 'unavailable' line on :{s.port}")

    # Redis hung: the first check waits for the timeout, the next ones not
    # at all (the connection is being re-established), all decided locally.
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        got = gen(a, "hung@example.com", 3)
        took = time.time() - t0
        check(got == [200] * 3, f"while Redis hangs: {got}")
        check(took < 2.5, f"three requests took {took:.2f}s while Redis hung (timeout 300ms)")
        check(metric(a, "magicd_rate_limit_fallbacks_total") >= after[0] + 3,
              "fallbacks counted while Redis hung")
        wait_metric(a, "magicd_rate_limit_store_up", 0)
        check(count(a, down) == 2, f"the hang said once on A: {count(a, down)}")
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    wait_metric(a, "magicd_rate_limit_store_up", 1)
    check(count(a, "reachable again") == 2, "Redis back after the hang, said once")


if __name__ == "__main__":
    main()
