"""A worker that keeps dying right after it starts is replaced, but with a
back-off (250 ms doubling), not in a tight fork loop; once it stops dying
the master brings it back and the other worker served throughout.

Here the worker is killed (SIGKILL) each time it appears, as a crash would
end it. A worker that cannot start for a configuration reason is not
respawned at all: test_config_check.py."""
import os
import re
import signal
import time
from harness import Magicd, check

with Magicd(workers=2) as srv:
    survivor = srv.worker_pids()[0]
    # Without a back-off this would be hundreds; with it (0.25 + 0.5 + 1 + 2 s)
    # about five, a few more when the first worker had run past the window.
    killed = set()  # a killed worker stays listed until the master reaps it
    end = time.time() + 3.5
    while time.time() < end:
        for pid in srv.worker_pids():
            if pid != survivor and pid not in killed:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
        time.sleep(0.01)
    log = srv.log()
    delays = [int(d) for d in re.findall(r"crashed \d+ time\(s\) in a row, respawning in (\d+) ms", log)]
    check(2 <= len(killed) <= 8, f"back-off bounds the restarts in 3.5 s: {len(killed)} killed")
    check(len(delays) >= 2 and all(b > a for a, b in zip(delays, delays[1:])),
          f"back-off grows: {delays}")
    for _ in range(10):
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, "the other worker keeps serving")
    check(srv.proc.poll() is None, "a crash is not a reason to stop the master")
    end = time.time() + 10
    while time.time() < end and len(srv.worker_pids()) < 2:
        time.sleep(0.1)
    check(len(srv.worker_pids()) == 2, "worker back once it stops crashing")
    st, _, body = srv.request("GET", "/login")
    check(st == 200, "serving pages again")
print("crash loop ok")
