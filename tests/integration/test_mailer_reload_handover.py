"""test_mailer_reload_handover: a reload while the mailers are half-way
through their batch files sends every link once, and at once.

magicd (1 worker, `delivery smtp`, smtp_connections 2) finds two batch
files of 10 links each in new/ (written as a tool would: tmp/, then a
rename); the relay holds each DATA 400 ms, so the mailers are waiting for
a 250 most of the time (it has taken each message by then, as a relay
does at the final dot). After the first few mails the master is sent HUP:
the old mailers stop, the new ones carry on from the files' journals.
Checked:
  1. no link arrives twice: a stop (QUIT) that came while a mailer waited
     for the relay's answer to a message broke that wait, the link stayed
     unrecorded and the new mailer sent it again;
  2. every link arrives within 15 s of the reload: a batch file the old
     mailer still held when a new one looked was not looked at again
     until the next link came in or a minute had passed.
"""
import asyncio
import os
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, batch_file, smtp_magicd  # noqa: E402

FILES, PER_FILE = 2, 10


class HoldingSink(Sink):
    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                # Taken at the final dot, answered later (a content scan):
                # a client that hangs up before the 250 has it sent all the
                # same (RFC 1047).
                sink.keep(session, envelope)
                await asyncio.sleep(0.4)
                return "250 OK queued"

        return Handler


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv, spool = smtp_magicd(rport, [])
    with open(srv.conf, "a") as f:
        f.write("smtp_connections 2;\n")
    addrs = [f"h{i}@example.com" for i in range(FILES * PER_FILE)]
    sink = HoldingSink(rport).start()
    try:
        with srv:
            for k in range(FILES):
                name = f"b.{secrets.token_hex(8)}.1"
                tmp = os.path.join(spool, "tmp", name)
                with open(tmp, "wb") as f:
                    f.write(batch_file(addrs[k * PER_FILE:(k + 1) * PER_FILE], srv.port))
                os.rename(tmp, os.path.join(spool, "new", name))
            end = time.time() + 20
            while sink.count() < 3 and time.time() < end:
                time.sleep(0.01)
            check(sink.count() >= 3, f"{sink.count()} mails before the reload")
            time.sleep(0.2)  # the mailers waiting for a 250
            srv.signal(signal.SIGHUP)
            t0 = time.time()
            while not set(addrs) <= set(sink.rcpts) and time.time() < t0 + 15:
                time.sleep(0.05)
            took = time.time() - t0
            time.sleep(1.5)  # a second copy would show now
            with sink.lock:
                got = list(sink.rcpts)
    finally:
        sink.stop()
    dups = sorted(a for a in set(got) if got.count(a) > 1)
    check(not dups, f"mailed twice across a reload: {dups}")
    missing = sorted(set(addrs) - set(got))
    check(not missing, f"not mailed within 15 s of the reload: {len(missing)} of "
          f"{len(addrs)}")
    print(f"ok: {len(addrs)} links, once each, the last {took:.1f} s after the reload")


if __name__ == "__main__":
    main()
