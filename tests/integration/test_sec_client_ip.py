#!/usr/bin/env python3
"""Behind a trusted proxy, every per-client decision is about the client,
not the proxy (attacks on the running server, real_ip_from 127.0.0.1):

1. the sign-in code limit: an attacker (X-Forwarded-For 203.0.113.66)
   spends the per-address budget of POST /magic/code with junk codes; a
   victim behind the same proxy (198.51.100.7) then enters the right code
   and is signed in, not told to wait (the limit was keyed on the proxy's
   address, one bucket for everybody);
2. the mail says where the request came from: the client's address, not
   the proxy's.
(That the requester's User-Agent never becomes words in the mail is
tested on the renderer, tests/unit/app/test_mail.c.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Browser, Magicd, check  # noqa: E402
from code_util import ask, send_code  # noqa: E402

CONF = ("real_ip_from 127.0.0.1;\nreal_ip_header X-Forwarded-For;\n"
        "rate_limit_ip 5 1m;\nrate_limit_email 100 1m;\n")


def behind(b, ip):
    b.headers["X-Forwarded-For"] = ip
    return b


with Magicd(workers=2, extra=CONF) as srv:
    victim = behind(Browser(srv), "198.51.100.7")
    victim.login_page()
    ticket, d = ask(srv, victim)
    check(d.get("ip") == "198.51.100.7", f"the mail names {d.get('ip')!r}, not the client")
    print("ok: the mail names the client behind the proxy")

    attacker = behind(Browser(srv), "203.0.113.66")
    attacker.login_page()
    a_ticket, _ = ask(srv, attacker, "nobody@example.com")
    statuses = [send_code(attacker, a_ticket, "000000")[0] for _ in range(8)]
    check(429 in statuses, f"the attacker's junk codes were never limited: {statuses}")
    st, h, body = send_code(victim, ticket, d["code"])
    check(st == 303, f"the victim's right code after the attacker's flood: {st} {body[:200]!r}")
    print(f"ok: code limit per client: attacker {statuses}, victim 303")

print("ok")
