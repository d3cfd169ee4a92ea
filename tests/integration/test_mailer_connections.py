"""test_mailer_connections: `smtp_connections N` sends over N SMTP
sessions at once, one mailer process each, sharing the spool, and no link
goes twice.

Against a relay a network away each mail costs a round trip or more, so
one session is a ceiling (about 20 mails/s at 50 ms); sessions side by
side are what a busy deployment needs. magicd (1 worker, `delivery smtp`,
smtp_connections 4) answers links for 24 accounts, a few tens of ms
apart, so they land in batch files of their own; the relay (aiosmtpd)
holds each DATA 300 ms and counts the sessions that are in DATA at once.
Checked:
  1. the master runs 4 mailer processes;
  2. the relay saw more than one session in DATA at once, and never more
     than 4 (with one mailer it is always one);
  3. every account gets exactly one mail: the mailers take batch files
     only under their locks;
  4. after a reload down to smtp_connections 1, one mailer is left, and
     a link asked for after the reload still arrives once.
"""
import asyncio
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, ask_links, smtp_magicd  # noqa: E402

N = 24
CONNS = 4


class CountingSink(Sink):
    """Holds each DATA 300 ms; self.most is the most sessions in DATA at once."""

    def __init__(self, port):
        super().__init__(port)
        self.inside = 0
        self.most = 0
        self.count_lock = threading.Lock()

    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.count_lock:
                    sink.inside += 1
                    sink.most = max(sink.most, sink.inside)
                await asyncio.sleep(0.3)
                with sink.count_lock:
                    sink.inside -= 1
                sink.keep(session, envelope)
                return "250 OK queued"

        return Handler


def mailers(srv):
    return [p for p, t in srv.children() if "mailer process" in t]


def wait_mailers(srv, n, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if len(mailers(srv)) == n:
            return
        time.sleep(0.1)
    check(False, f"{len(mailers(srv))} mailer processes, want {n}")


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"c{i}@example.com" for i in range(N)]
    rport = free_port()
    srv, spool = smtp_magicd(rport, users + ["late@example.com"])
    with open(srv.conf) as f:
        base = f.read()

    def conf(n):
        with open(srv.conf, "w") as f:
            f.write(base + f"smtp_connections {n};\n")

    conf(CONNS)

    sink = CountingSink(rport).start()
    try:
        with srv:
            wait_mailers(srv, CONNS)
            print(f"ok: {CONNS} mailer processes")
            for u in users:
                ask_links(srv, [u])
                time.sleep(0.03)  # a batch file each, or nearly
            sink.wait(N, timeout=60)
            time.sleep(1.0)  # a second copy would show now
            with sink.lock:
                got = list(sink.rcpts)
            check(sorted(got) == sorted(users),
                  f"{len(got)} mails for {len(set(got))} accounts, want one each of {N}: "
                  f"duplicates {sorted(u for u in set(got) if got.count(u) > 1)}")
            check(1 < sink.most <= CONNS,
                  f"{sink.most} sessions in DATA at once, want 2..{CONNS}")
            print(f"ok: {N} mails, one each, up to {sink.most} sessions at once")

            conf(1)
            srv.reload()
            wait_mailers(srv, 1, timeout=20)
            ask_links(srv, ["late@example.com"])
            sink.wait(N + 1, timeout=30)
            time.sleep(1.0)
            with sink.lock:
                late = sink.rcpts.count("late@example.com")
            check(late == 1, f"the link after the reload arrived {late} times")
            print("ok: reloaded to 1 mailer; the next link arrives once")
    finally:
        sink.stop()
    print("ok")


if __name__ == "__main__":
    main()
