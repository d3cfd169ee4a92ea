"""block is off-CPU time, and offcpu shows where the workers were not running.

Asserts, under generate load for a known user (CPU-bound: the user lookup
is a SQLite step over cached pages, then token sealing and a page-cache
write to the outbox): the block profile of a 3 s window holds little (its
calls ran on the CPU, which the CPU profile already shows), where the
monotonic-clock bracket counted the whole time of every call; offcpu?seconds=3
answers with sample types waits/count and off_cpu/nanoseconds, labels wait
(epoll at least) and pid; and off-CPU time plus CPU time add up to about
the wall time of the window for each worker.
"""
import os
import re
import subprocess
import time

from harness import DEMO, LOADTEST, Magicd, check, skip
from profiler_util import need_go, pprof_tool

need_go()
if not os.access(LOADTEST, os.X_OK):
    skip("build/loadtest is not built")
SECS = 3
# known users only (no sign-up writes), rate limits out of the way
CONF = """
rate_limit_email 100000000 1m;
rate_limit_ip 100000000 1m;
block_profile_rate 100us;
"""


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def total(text):
    """The total of `go tool pprof -top` ("... of 1.25s total"), seconds."""
    m = re.search(r"of ([\d.]+)(ns|us|ms|s|mins|hrs) total", text)
    if not m:
        return 0.0
    return float(m.group(1)) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "mins": 60,
                                "hrs": 3600}[m.group(2)]


with Magicd(workers=2, extra=CONF) as srv:
    pids = srv.worker_pids()
    emails = os.path.join(srv.tmp, "emails.txt")
    with open(emails, "w") as f:
        f.write(DEMO + "\n")
    load = subprocess.Popen([LOADTEST, "-q", "-c", "8", "-d", f"{3 * SECS + 6}s", "--emails",
                             emails, "generate", f"http://127.0.0.1:{srv.port}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)

    st, _, block = srv.pprof(f"/debug/pprof/block?seconds={SECS}")
    check(st == 200, f"block status {st}")
    top = pprof_tool(["-top", "-sample_index=delay"], block)
    blocked = total(top)
    print(f"block: {blocked:.3f}s off-CPU in calls over {SECS}s of 2 CPU-bound workers")
    check(blocked < 0.1 * SECS * len(pids), "CPU-bound calls counted as blocked:\n" + top[:800])

    c0 = sum(cpu_ns(p) for p in pids)
    t0 = time.time()
    st, _, off = srv.pprof(f"/debug/pprof/offcpu?seconds={SECS}")
    wall = time.time() - t0
    c1 = sum(cpu_ns(p) for p in pids)
    check(st == 200, f"offcpu status {st}")
    raw = pprof_tool(["-raw"], off)
    check("waits/count off_cpu/nanoseconds" in raw, "offcpu sample types:\n" + raw[:600])
    tags = pprof_tool(["-tags"], off)
    check(re.search(r"^\s*wait:", tags, re.M) and "epoll" in tags, "no wait=epoll:\n" + tags)
    check(re.search(r"^\s*pid:", tags, re.M), "no pid label:\n" + tags)
    top = pprof_tool(["-top", "-sample_index=off_cpu"], off)
    offs = total(top)
    cpu = (c1 - c0) / 1e9
    print(f"offcpu: {offs:.2f}s off-CPU + {cpu:.2f}s CPU over {wall:.2f}s x {len(pids)} workers")
    check(0.6 * wall * len(pids) < offs + cpu < 1.3 * wall * len(pids),
          f"off-CPU {offs:.2f}s + CPU {cpu:.2f}s is not the wall time of {len(pids)} workers")
    load.kill()
    load.wait()

print("ok")
