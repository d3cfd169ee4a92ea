#!/usr/bin/env python3
"""Rate limits that hold (issue 9.7), attacked through the running server.

  1. IPv6: addresses in one /64 share the per-IP limit
     (rate_limit_ipv6_prefix 64); another /64 has its own. The addresses
     come through X-Forwarded-For from a trusted proxy, since only ::1
     exists on loopback.
  2. Behind a proxy (real_ip_from + real_ip_header, nginx's semantics):
     clients are limited one by one, not the proxy as a whole; a client
     cannot escape its limit by prepending addresses to X-Forwarded-For
     (the rightmost untrusted address counts); a peer that is not a
     trusted proxy cannot choose its address with the header. The same
     with X-Real-IP.
  3. Table pressure: with a small table, junk keys from a few source
     addresses (127.0.0.2-5) never reset a victim's exhausted per-email
     limit; new keys are refused (429) while the table is full of live
     limits, and the log says so once.
  4. rate_limit_email_fold_tags on: user+tag@domain shares user@domain's
     per-email limit.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402
from attack_util import Client  # noqa: E402


def ipv6_prefix(srv, b):
    c = Client(srv, browser=b)
    for i in range(1, 6):
        st, _, _ = c.generate(f"v6-{i}@example.com",
                              {"X-Forwarded-For": f"2001:db8:1:2::{i:x}"})
        check(st == 200, f"request {i} from 2001:db8:1:2::/64: {st}")
    st, _, body = c.generate("v6-6@example.com",
                             {"X-Forwarded-For": "2001:db8:1:2:ffff:ffff:ffff:ffff"})
    check(st == 429 and b"your address" in body,
          f"6th request from the same /64 (another address in it): {st}")
    st, _, _ = c.generate("v6-7@example.com", {"X-Forwarded-For": "2001:db8:1:3::1"})
    check(st == 200, f"another /64: {st}")
    # The same address written another way is the same client.
    st, _, _ = c.generate("v6-8@example.com",
                          {"X-Forwarded-For": "2001:0db8:0001:0002:0000:0000:0000:0009"})
    check(st == 429, f"same /64, uncompressed spelling: {st}")
    c.close()
    print("ok: IPv6 clients are limited per /64")


def behind_proxy(srv, b, header):
    def h(v):
        return {header: v}
    c = Client(srv, browser=b)  # from 127.0.0.1: the trusted proxy
    for i in range(5):
        st, _, _ = c.generate(f"p{i}@example.com", h("198.51.100.7"))
        check(st == 200, f"{header}: client request {i + 1}: {st}")
    st, _, _ = c.generate("p5@example.com", h("198.51.100.7"))
    check(st == 429, f"{header}: client past its limit: {st}")
    st, _, _ = c.generate("p6@example.com", h("198.51.100.8"))
    check(st == 200, f"{header}: another client behind the same proxy: {st}")
    if header == "X-Forwarded-For":
        # The client prepends its own guesses; the proxy appends the truth.
        for spoof in ("203.0.113.1", "203.0.113.2, 10.0.0.1", "unknown", "::1"):
            st, _, _ = c.generate("p7@example.com", h(f"{spoof}, 198.51.100.7"))
            check(st == 429, f"XFF '{spoof}, 198.51.100.7' escaped the limit: {st}")
        # A chain of trusted proxies is skipped from the right.
        st, _, _ = c.generate("p8@example.com", h("198.51.100.7, 127.0.0.1"))
        check(st == 429, f"XFF through two trusted proxies: {st}")
    else:
        for spoof in ("203.0.113.1, 198.51.100.7", "garbage"):
            st, _, _ = c.generate("p7@example.com", h(spoof))
            check(st in (429, 200), f"X-Real-IP '{spoof}': {st}")
    c.close()
    # An untrusted peer (127.0.0.9) cannot pick its address.
    u = Client(srv, source="127.0.0.9", browser=b)
    for i in range(5):
        st, _, _ = u.generate(f"u{i}@example.com", h(f"192.0.2.{i + 1}"))
        check(st == 200, f"{header}: untrusted peer request {i + 1}: {st}")
    st, _, _ = u.generate("u5@example.com", h("192.0.2.77"))
    check(st == 429, f"{header} from an untrusted peer changed its address: {st}")
    u.close()
    print(f"ok: {header}: clients limited one by one behind a trusted proxy; "
          "spoofed headers ignored")


def table_pressure(srv, b):
    # The victim's address is asked for from 127.0.0.2, which the flood
    # keeps using: its per-IP entry stays live, so the last answer is about
    # the victim's per-email limit and not about a per-IP key that decayed
    # and, the table being full, could not come back.
    c = Client(srv, source="127.0.0.2", browser=b)
    for i in range(3):
        st, _, _ = c.generate(DEMO)
        check(st == 200, f"victim request {i + 1}: {st}")
    st, h, _ = c.generate(DEMO)
    check(st == 429, f"victim's 4th request: {st}")
    victim_retry = int(h.get("retry-after", "0"))
    # Junk keys from a few addresses, each pushed to its own limit, so they
    # look more "in force" than the victim's to an evict-the-oldest table.
    attackers = [Client(srv, source=f"127.0.0.{k}", browser=b) for k in (2, 3, 4, 5)]
    refused = 0
    for n in range(240):
        a = attackers[n % len(attackers)]
        for _ in range(3):
            st, _, _ = a.generate(f"junk{n}@example.org")
            refused += st == 429
    for a in attackers:
        a.close()
    st, h, body = c.generate(DEMO)
    check(st == 429, f"the victim's exhausted limit was reset by table pressure: {st}")
    check(b"this address" in body, f"429 for another reason: {body[:300]!r}")
    check(int(h.get("retry-after", "0")) >= victim_retry - 60,
          f"victim's Retry-After went from {victim_retry} to {h.get('retry-after')}")
    check(refused > 0, "the table never filled (no new key refused)")
    c.close()
    time.sleep(0.3)
    log = srv.log()
    n = log.count("rate-limit table full")
    check(n == 1, f"'rate-limit table full' logged {n} times")
    print(f"ok: table pressure: victim still limited; {refused} junk requests refused; "
          "logged once")


def fold_tags(srv, b):
    c = Client(srv, browser=b)
    for i in range(3):
        st, _, _ = c.generate(f"demo+t{i}@example.com")
        check(st == 200, f"demo+t{i}: {st}")
    st, _, body = c.generate("demo+other@example.com")
    check(st == 429 and b"this address" in body, f"4th tag of the same mailbox: {st}")
    st, _, _ = c.generate(DEMO)
    check(st == 429, f"the untagged address: {st}")
    st, _, _ = c.generate("demo2+t0@example.com")
    check(st == 200, f"another mailbox: {st}")
    c.close()
    print("ok: +tags share the mailbox's per-email limit")


def run(extra, fn, header=None):
    srv = Magicd(workers=2, extra=extra)
    try:
        with srv:
            b = Browser(srv)
            b.login_page()
            if header:
                fn(srv, b, header)
            else:
                fn(srv, b)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    run("rate_limit_ip 5 1m;\nrate_limit_email 100 1m;\nreal_ip_from 127.0.0.1/32;\n"
        "real_ip_header X-Forwarded-For;\nrate_limit_ipv6_prefix 64;\n", ipv6_prefix)
    run("rate_limit_ip 5 1m;\nrate_limit_email 100 1m;\nreal_ip_from 127.0.0.1;\n"
        "real_ip_from 10.0.0.0/8;\nreal_ip_header X-Forwarded-For;\n", behind_proxy,
        "X-Forwarded-For")
    run("rate_limit_ip 5 1m;\nrate_limit_email 100 1m;\nreal_ip_from 127.0.0.1/32;\n"
        "real_ip_header X-Real-IP;\n", behind_proxy, "X-Real-IP")
    run("rate_limit_entries 64;\nrate_limit_email 3 15m;\nrate_limit_ip 1000 15m;\n",
        table_pressure)
    run("rate_limit_email 3 1m;\nrate_limit_ip 1000 1m;\nrate_limit_email_fold_tags on;\n",
        fold_tags)
    print("ok")


if __name__ == "__main__":
    main()
