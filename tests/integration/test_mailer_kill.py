"""test_mailer_kill: the mailer sends straight from the workers' batch
files; killed with SIGKILL half-way through one, the mailer the master
starts in its place sends the rest of the file and not the part before.

magicd (1 worker, `delivery smtp` to a relay that is down) answers links
for 200 distinct accounts: they wait in batch files in new/. Then a real
SMTP server (aiosmtpd) comes up on the relay's port, slowed to ~10 ms a
message so the kills land mid-file, and the mailer is killed with SIGKILL
twice while it sends. Checked:
  1. every account gets its mail;
  2. at most one duplicate per kill (the one message whose 250 may have
     arrived just before the kill: the window no mailer can close; the
     Message-ID is the same, so mail systems drop it); a mailer that did
     not read the batch file's journal would send the whole first part
     again;
  3. the links went out from the batch files (their journals in sent/),
     not one file per link: nothing is left in new/ or failed/.
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, ask_links, smtp_magicd  # noqa: E402

N = 200
KILLS = (50, 120)  # mails received before each kill


class SlowSink(Sink):
    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.keep(session, envelope)
                await asyncio.sleep(0.01)
                return "250 OK queued"

        return Handler


def mailer_pid(srv):
    for p, t in srv.children():
        if "mailer process" in t:
            return p
    return None


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"m{i}@example.com" for i in range(N)]
    rport = free_port()
    srv, spool = smtp_magicd(rport, users)

    sink = SlowSink(rport)
    with srv:
        ask_links(srv, users)
        batches = [n for n in os.listdir(os.path.join(spool, "new"))
                   if n.lstrip(".").startswith(("b.", "bs."))]
        check(batches, "no batch files in new/ with the relay down")
        sink.start()
        try:
            for k in KILLS:
                end = time.time() + 60
                while sink.count() < k and time.time() < end:
                    time.sleep(0.005)
                pid = mailer_pid(srv)
                check(pid, "no mailer process")
                os.kill(pid, 9)
                end = time.time() + 15
                while mailer_pid(srv) in (None, pid) and time.time() < end:
                    time.sleep(0.05)
                check(mailer_pid(srv) not in (None, pid), "the master did not start a new mailer")
            end = time.time() + 60
            while len(set(sink.rcpts)) < N and time.time() < end:
                time.sleep(0.05)
            time.sleep(1.5)  # a duplicate would arrive now
            got = list(sink.rcpts)
        finally:
            sink.stop()

    missing = sorted(set(users) - set(got))
    check(not missing, f"never mailed: {missing[:5]} ({len(missing)} of {N})")
    dups = len(got) - len(set(got))
    check(dups <= len(KILLS), f"{dups} duplicates after {len(KILLS)} kills, want at most one each")
    sent = os.listdir(os.path.join(spool, "sent"))
    journals = [n for n in sent if n.endswith(".sent")]
    check(journals, f"no batch file journals in sent/: {sent[:5]}")
    left = [n for n in os.listdir(os.path.join(spool, "new")) if not n.startswith(".")]
    check(not left, f"left in new/: {left[:5]}")
    failed = os.listdir(os.path.join(spool, "failed"))
    check(not failed, f"in failed/: {failed[:5]}")
    print(f"ok: {N} links mailed from {len(batches)} batch files across {len(KILLS)} kills of "
          f"the mailer, {dups} duplicate(s)")


if __name__ == "__main__":
    main()
