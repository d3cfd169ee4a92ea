"""test_spool_kill: an answered link survives kill -9 of every magicd
process and is then delivered exactly once.

magicd (2 workers, `delivery smtp` to a relay that is down) runs in its own
process group. Eight browsers ask for links for distinct accounts as fast as
they can; while requests are still in flight the whole process group gets
SIGKILL - master, workers, mailer, profiler at once, no chance to flush
anything. Checked:
  1. every link whose 200 a browser received is in the spool;
  2. after a restart with the relay up, every spooled link is mailed exactly
     once (each account asked once, so each recipient appears once), and
     every answered account got its mail.
(kill -9 leaves the page cache intact, so this checks ordering - the answer
after the spool write - not the fsync itself; test_spool_slow_fsync checks
that the answer waits for the sync.)
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Browser, check, free_port, skip  # noqa: E402
from spool_util import Sink, smtp_magicd, spool_records  # noqa: E402

THREADS = 8
PER_THREAD = 60
KILL_AFTER = 120  # answers before the kill


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"k{t}-{i}@example.com" for t in range(THREADS) for i in range(PER_THREAD)]
    rport = free_port()
    sink = Sink(rport)
    srv, spool = smtp_magicd(rport, users, workers=2)

    srv.stdout_path = os.path.join(srv.tmp, "stdout.log")
    srv.proc = subprocess.Popen([BIN, "-c", srv.conf], stdout=open(srv.stdout_path, "ab"),
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        srv.wait_ready()
        answered = load_and_kill(srv, users)
    finally:
        try:
            os.killpg(srv.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        srv.proc.wait()

    recs = spool_records(spool)
    spooled = [r.get("to") for r in recs]
    missing = sorted(answered - set(spooled))
    print(f"answered {len(answered)} links before kill -9; {len(recs)} in the spool")
    check(not missing, f"answered but not in the spool after kill -9: {missing[:5]}")

    sink.start()
    try:
        with srv:
            sink.wait(len(recs), 120)
            time.sleep(2)  # a duplicate would arrive now
        got = list(sink.rcpts)
    finally:
        sink.stop()
    dups = sorted({r for r in got if got.count(r) > 1})
    check(not dups, f"mailed more than once: {dups[:5]}")
    check(len(got) == len(recs), f"{len(got)} mails for {len(recs)} spooled links")
    check(answered <= set(got), f"answered but never mailed: {sorted(answered - set(got))[:5]}")
    print(f"ok: {len(got)} links mailed once each after the restart, all {len(answered)} "
          "answered ones among them")


def load_and_kill(srv, users):
    answered = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(t):
        b = Browser(srv)
        try:
            b.login_page()
        except Exception:
            return
        for i in range(PER_THREAD):
            if stop.is_set():
                return
            u = users[t * PER_THREAD + i]
            try:
                st, _, _ = b.generate(u)
            except Exception:
                return  # the server died under us: this one was not answered
            if st == 200:
                with lock:
                    answered.add(u)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    end = time.time() + 30
    while time.time() < end:
        with lock:
            if len(answered) >= KILL_AFTER:
                break
        time.sleep(0.002)
    # Requests are in flight on every thread: kill everything at once.
    os.killpg(srv.proc.pid, signal.SIGKILL)
    with lock:
        snapshot = set(answered)
    stop.set()
    for t in threads:
        t.join(15)
    check(len(snapshot) >= KILL_AFTER, f"only {len(snapshot)} links answered in 30 s")
    # Answers that arrived after the kill were sent before it: count them too.
    return answered


if __name__ == "__main__":
    main()
