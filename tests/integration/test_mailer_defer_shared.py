"""test_mailer_defer_shared: with smtp_connections N, a link the relay
defers (4xx) is tried again once per back-off, not once per mailer.

Each mailer kept its own retry times in memory, so after one mailer's
451 the other N-1 tried the link at once (woken by its file appearing in
new/), and each of them again after its own back-off: the relay saw N
times the retries the back-off promises (5 s, then 10 s, 20 s ...). The
due time now lives on the deferred link's file (its mtime). magicd
(`delivery smtp`, smtp_connections 4) sends 10 links to a relay that
answers 451 to every message. Checked:
  1. in the first 8 s each link is tried twice: at once, and after 5 s;
  2. after a reload every link is tried once at once (what an operator
     who fixed the relay wants), once, not by every new mailer, and again
     after the first delay (a mailer with nothing in memory starts over).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, ask_links, smtp_magicd  # noqa: E402

N = 10


class Defer(Sink):
    def __init__(self, port):
        super().__init__(port)
        self.tries = []

    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.tries += list(envelope.rcpt_tos)
                return "451 4.7.1 greylisted, try again later"

        return Handler

    def taken(self):
        with self.lock:
            return len(self.tries)


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"g{i}@example.com" for i in range(N)]
    rport = free_port()
    srv, spool = smtp_magicd(rport, users)
    with open(srv.conf, "a") as f:
        f.write("smtp_connections 4;\n")
    sink = Defer(rport).start()
    try:
        with srv:
            end = time.time() + 10
            while len([p for p, t in srv.children() if "mailer process" in t]) < 4 \
                    and time.time() < end:
                time.sleep(0.05)
            t0 = time.time()
            ask_links(srv, users)
            time.sleep(max(0.0, t0 + 8 - time.time()))
            first = sink.taken()
            check(N <= first, f"{first} tries of {N} links in 8 s")
            check(first <= 2 * N + 2,
                  f"{first} tries of {N} deferred links in 8 s with 4 mailers, want {2 * N} "
                  "(at once, then after 5 s): each mailer backed off on its own")
            print(f"ok: {first} tries of {N} deferred links in 8 s")
            srv.signal(signal.SIGHUP)
            time.sleep(3)
            after = sink.taken() - first
            check(N <= after <= N + 2,
                  f"{after} tries of {N} deferred links in the 3 s after a reload, want {N}")
            print(f"ok: {after} tries in the 3 s after a reload")
            # Tried early, each starts over from the first delay (5 s), not
            # from twice the one its file had (20 s): a mailer respawned
            # again and again would put the links off for minutes.
            time.sleep(4.5)
            again = sink.taken() - first - after
            check(N <= again <= N + 2,
                  f"{again} tries of {N} links 3-7.5 s after a reload, want {N} (5 s after the "
                  "reload's try)")
            print(f"ok: {again} tries 5 s after that")
    finally:
        sink.stop()
    print("ok")


if __name__ == "__main__":
    main()
