"""test_mailer_two: two mailers on one spool (a binary upgrade's overlap:
the old master's mailer runs beside the new one's until the old master
quits; a reload's outgoing mailer finishes beside the new one) never send
the same message file of new/ both, and the one that comes second does not
fail a message the other has sent.

The test plays the other mailer: it holds the flock of a message file in
new/ as a mailer does while it sends one. Checked, with magicd's mailer
and a real relay (aiosmtpd) up:
  1. a message file another holds is not sent while it is held;
  2. one the other sent meanwhile (moved to sent/ under its lock) is not
     sent, nor moved to failed/, nor counted failed, once the lock goes;
  3. one the other let go of unsent (deferred) is sent, once, soon after;
     a FIFO under a message's name in new/ (whose read would wait for a
     writer for ever) holds nothing up.
"""
import fcntl
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Magicd, check, free_port, skip  # noqa: E402
from spool_util import Sink  # noqa: E402


def message(spool, i, to):
    mid = "%032x" % (0xabc000 + i)
    now = int(time.time())
    p = os.path.join(spool, "new", mid)
    with open(os.path.join(spool, "tmp", mid), "w") as f:
        f.write(f"id: {mid}\nto: {to}\nurl: https://login.example.com/magic/verify/t{i}\n"
                f"expires: {now + 900}\ncreated: {now}\n")
    os.rename(os.path.join(spool, "tmp", mid), p)
    fd = os.open(p, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return mid, p, fd


def failed_total(srv):
    st, _, body = srv.pprof("/metrics", timeout=10)
    m = re.search(rb"^magicd_mails_failed_total (\S+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{rport}", users=())
    spool = os.path.join(srv.tmp, "spool")
    srv.write_conf(srv.extra + f"\nsmtp_spool {spool};\nsmtp_starttls off;\n")
    for sub in ("new", "tmp", "sent", "failed"):
        os.makedirs(os.path.join(spool, sub), exist_ok=True)
    sent_id, sent_path, sent_fd = message(spool, 1, "sent-by-other@example.com")
    left_id, left_path, left_fd = message(spool, 2, "left-by-other@example.com")
    os.mkfifo(os.path.join(spool, "new", "%032x" % 0xabcfff))

    sink = Sink(rport).start()
    try:
        with srv:
            time.sleep(3)
            with sink.lock:
                got = list(sink.rcpts)
            check(not got, f"sent while another mailer held them: {got}")
            # The other mailer: one sent (moved to sent/ under its lock),
            # one deferred; then it lets go of both.
            os.rename(sent_path, os.path.join(spool, "sent", sent_id))
            os.close(sent_fd)
            os.close(left_fd)
            end = time.time() + 10
            while time.time() < end:
                with sink.lock:
                    if "left-by-other@example.com" in sink.rcpts:
                        break
                time.sleep(0.05)
            time.sleep(1.5)  # a second copy, or a failed one, would show now
            with sink.lock:
                got = list(sink.rcpts)
            nfailed = failed_total(srv)
    finally:
        sink.stop()
    check(got == ["left-by-other@example.com"],
          f"the relay got {got}, want the one the other mailer let go of, once")
    failed = os.listdir(os.path.join(spool, "failed"))
    check(not failed, f"in failed/: {failed}")
    check(nfailed == 0, f"mails_failed {nfailed}: a message another mailer sent counted failed")
    print("ok: a message file another mailer holds is left to it; one it sent is neither sent "
          "again nor failed; one it let go of is sent once")


if __name__ == "__main__":
    main()
