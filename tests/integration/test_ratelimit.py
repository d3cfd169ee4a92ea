#!/usr/bin/env python3
"""Rate limits on POST /magic/generate through the real server: the
per-address limit gives 429 with a Retry-After of one emission interval and
leaves other addresses alone; the per-IP limit counts every request from the address; and the counts live in
shared memory: after a reload (HUP) the new worker processes still see
them."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=2, extra="rate_limit_email 3 1m;\nrate_limit_ip 8 1m;")
    try:
        with srv:
            run(srv)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)
    print("ok")


def run(srv):
    b = Browser(srv)
    b.login_page()

    # Per address: 3 per minute, then 429 with Retry-After ~ 60/3 s.
    for i in range(3):
        st, _, _ = b.generate(DEMO)
        check(st == 200, f"request {i + 1} for {DEMO}: {st}")
    st, h, body = b.generate(DEMO)
    check(st == 429, f"4th request for {DEMO}: {st}")
    ra = int(h.get("retry-after", "0"))
    check(1 <= ra <= 20, f"Retry-After {ra}")
    check(b"Too many" in body, body[:200])
    # Other spellings of the same address share its limit.
    st, _, _ = b.generate("  DEMO@Example.com ")
    check(st == 429, f"same address, other spelling: {st}")
    # Another address is not affected (requests 6 and 7 from this IP).
    st, _, _ = b.generate("other@example.com")
    check(st == 200, f"another address: {st}")
    st, _, _ = b.generate("third@example.com")
    check(st == 200, f"third address: {st}")

    # Per IP: 8 per minute across both workers; this is request 8.
    st, _, _ = b.generate("fourth@example.com")
    check(st == 200, f"8th request from this IP: {st}")
    st, h, body = b.generate("fifth@example.com")
    check(st == 429 and b"your address" in body, f"9th request from this IP: {st} {body[:200]}")

    # A reload keeps the counts: the new workers are other processes, so a
    # 429 from them shows the table is shared memory, not per-process.
    srv.reload()
    st, _, _ = b.generate("sixth@example.com")
    check(st == 429, f"after reload, IP limit was reset: {st}")


if __name__ == "__main__":
    main()
