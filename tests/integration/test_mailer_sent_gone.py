"""test_mailer_sent_gone: with DIR/sent unusable (removed, or a file in
its place: what an operator's clean-up or a full disk leaves), a link
the relay took still leaves new/ and is not sent again, and links that
come alone still go out.

What stops a second send of a link is its absence from new/; sent/ only
records it. magicd (1 worker, `delivery smtp`) spools a link for
d@example.com that the relay defers once (451), so it waits in new/ as a
file of its own. Then sent/ is replaced by a regular file. Checked:
  1. the deferred link, retried and accepted, arrives once, and the wakes
     that follow (links asked for other accounts) do not send it again
     (its move to sent/ failed and it stayed in new/: each pass sent it
     once more);
  2. those links, each alone in its batch file, are mailed too (a batch
     file whose journal cannot be opened was left in new/ for good, but
     a file of one link needs no journal);
  3. nothing of theirs is left in new/.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, ask_links, smtp_magicd  # noqa: E402

OTHERS = [f"o{i}@example.com" for i in range(4)]


class DeferOnce(Sink):
    """451 to the first DATA for d@example.com, 250 to everything else."""

    def __init__(self, port):
        super().__init__(port)
        self.deferred = 0

    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if "d@example.com" in envelope.rcpt_tos and not sink.deferred:
                    sink.deferred += 1
                    return "451 4.7.1 try again later"
                sink.keep(session, envelope)
                return "250 OK queued"

        return Handler


def msg_files(spool):
    return [n for n in os.listdir(os.path.join(spool, "new")) if len(n) == 32]


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv, spool = smtp_magicd(rport, ["d@example.com"] + OTHERS)
    sink = DeferOnce(rport).start()
    try:
        with srv:
            ask_links(srv, ["d@example.com"])
            end = time.time() + 10
            while not (sink.deferred and msg_files(spool)) and time.time() < end:
                time.sleep(0.05)
            check(msg_files(spool), "the deferred link is not a file of its own in new/")
            sent = os.path.join(spool, "sent")
            os.rename(sent, sent + ".away")
            with open(sent, "w") as f:
                f.write("not a directory\n")
            # Its retry is 5 s after the 451.
            end = time.time() + 20
            while "d@example.com" not in sink.rcpts and time.time() < end:
                time.sleep(0.05)
            check("d@example.com" in sink.rcpts, "the deferred link never arrived")
            for u in OTHERS:  # each a wake of the mailer, and a file of one link
                ask_links(srv, [u])
                time.sleep(0.5)
            end = time.time() + 10
            while not set(OTHERS) <= set(sink.rcpts) and time.time() < end:
                time.sleep(0.05)
            time.sleep(1.0)
            with sink.lock:
                got = list(sink.rcpts)
            d = got.count("d@example.com")
            check(d == 1, f"the deferred link arrived {d} times with sent/ unusable")
            print("ok: the deferred link arrived once")
            missing = [u for u in OTHERS if u not in got]
            check(not missing, f"links of one never mailed with sent/ unusable: {missing}")
            dups = [u for u in OTHERS if got.count(u) > 1]
            check(not dups, f"mailed twice: {dups}")
            left = [n for n in os.listdir(os.path.join(spool, "new")) if not n.startswith(".")]
            check(not left, f"left in new/: {left}")
            print(f"ok: {len(OTHERS)} links of one mailed once each, nothing left in new/")
    finally:
        sink.stop()
    print("ok")


if __name__ == "__main__":
    main()
