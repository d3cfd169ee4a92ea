"""test_sec_code_burst: a burst of sign-in code guesses sent all at once
gets no more than SIGNIN_CODE_TRIES (5) of them judged.

SECURITY.md: "Each link's code takes 5 wrong tries and then dies with its
link". The attacker asks for a link for the victim from their own browser
(the code is bound to it) and then, instead of guessing one code after the
other, opens 40 connections and sends 40 guesses at once, with the limits
of the victim's address and of the attacker's own lifted (they come from
many addresses). Each guess that is judged is a 1 in 10^6 chance: a server
that reads the try count and only then counts a wrong try lets every guess
in flight read "fewer than 5" and be judged.

Attacked on the running server with a PostgreSQL store (the round trips
between the read and the write are where the guesses pass each other) and
with SQLite and four workers:
  - 40 wrong codes released together: at most 4 answers "not right, N
    left", every other answer is 410 "too many", and exactly one try locks
    the link (the error log's "locked after 5 wrong tries" line, written
    once per try that is judged past the fourth); before, 35 tries were
    judged and locked it, one after the other;
  - the right code sent after the burst is refused, and so is the link.
"""
import os
import re
import socket
import time
import urllib.parse

from harness import DEMO, Browser, Magicd, check
from services import PgMagicd
from code_util import ask

BURST = 40


def wrong(code, i):
    return "%06d" % ((int(code) + 1 + i) % 1000000)


def burst(srv, b, ticket, codes):
    """Send every code on its own connection, all held back by their last
    byte and then released together. Returns the raw answers."""
    cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
    conns = []
    for code in codes:
        body = urllib.parse.urlencode({"ticket": ticket, "code": code}).encode()
        head = (f"POST /magic/code HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                f"X-CSRF-Token: {b.csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
        s.sendall(head + body[:-1])
        conns.append((s, body[-1:]))
    time.sleep(0.3)
    for s, last in conns:
        s.sendall(last)
    out = []
    for s, _ in conns:
        data = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            data += x
        s.close()
        out.append(data)
    return out


def locked_lines(srv):
    try:
        text = open(srv.error_log, errors="replace").read()
    except OSError:
        return []
    return re.findall(r"sign-in code locked after (\d+) wrong tries", text)


def attack(srv, what):
    a = Browser(srv)
    a.login_page()
    ticket, d = ask(srv, a)
    before = len(locked_lines(srv))
    answers = burst(srv, a, ticket, [wrong(d["code"], i) for i in range(BURST)])
    status = [int(r.split(b" ", 2)[1]) for r in answers]
    not_right = sum(1 for st, r in zip(status, answers) if st == 403 and b"not right" in r)
    too_many = sum(1 for st, r in zip(status, answers) if st == 410 and b"Too many" in r)
    time.sleep(0.3)  # the error log is written by the workers as they go
    locks = locked_lines(srv)[before:]
    print(f"{what}: {not_right} 'not right', {too_many} 'too many', "
          f"{len(locks)} tries judged past the 4th (lock lines {locks[:8]})")
    check(not_right <= 4, f"{what}: {not_right} wrong codes were answered 'not right' "
          "(at most 4 may be)")
    check(not_right + too_many == BURST, f"{what}: other answers in the burst: {status}")
    check(locks == ["5"], f"{what}: {len(locks)} tries locked the link ({locks[:10]}): "
          f"{len(locks) + not_right} codes judged for one link, at most 5 may be")
    st, _, body = a.req("POST", "/magic/code",
                        urllib.parse.urlencode({"ticket": ticket, "code": d["code"]}),
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 410 and b"Too many" in body, f"{what}: the right code after the burst: {st}")
    st, _, _ = a.req("POST", d["link"][d["link"].index("/magic/verify/"):])
    check(st == 410, f"{what}: the link after the burst: {st}")
    print(f"ok: {what}: {BURST} guesses at once, 5 judged, then code and link are dead")


LIFTED = "rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n"

with Magicd(workers=4, extra=LIFTED) as srv:
    attack(srv, "SQLite, 4 workers")

try:
    from services import Postgres, pg_bindir
except ImportError:
    pg_bindir = None
if pg_bindir and pg_bindir():
    with Postgres() as pg:
        with PgMagicd(pg, workers=2, extra=LIFTED) as srv:
            attack(srv, "PostgreSQL, 2 workers")
else:
    print("skip (part): no PostgreSQL server binaries for the shared-store burst")
