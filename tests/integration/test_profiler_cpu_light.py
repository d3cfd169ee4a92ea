"""CPU profiles are right under light and periodic load, not only when the
workers are saturated.

A tick-driven timer (ITIMER_PROF) only fires on scheduler ticks that find
the worker running, so work that is phase-locked to the tick - an open-loop
client sending one request every millisecond - is never sampled. magicd
samples by the worker's own CPU time (a perf_event task-clock, or a thread
CPU-time timer), so the profile must account for the CPU the workers used
whatever the shape of the load.

Asserts, for 1 and 2 workers, under `loadtest -R 1000` (one request every
millisecond) and `loadtest -R 1000 --poisson`, in each of 5 runs: the CPU
time in a 3 s profile is within 10% of what /proc/PID/schedstat says the
workers used over the same window; and the profile's comments name the
CPU timer source. The window is the profile's own (its time_nanos and
duration_nanos), and /proc is read every 5 ms meanwhile and interpolated at
its ends, so a profiler answering late on a busy machine does not count.
"""
import os
import re
import subprocess
import time

from harness import LOADTEST, Magicd, check, skip
from profiler_util import LOAD_CONF, CpuWatch, need_go, pprof_tool, profile_window

need_go()
if not os.access(LOADTEST, os.X_OK):
    skip("build/loadtest is not built")

RUNS = 5
SECS = 3
HZ = 1000


def total_seconds(top):
    m = re.search(r"Total samples = ([\d.]+)(ms|s|us)\b", top)
    if not m:
        return 0.0
    return float(m.group(1)) / {"s": 1, "ms": 1e3, "us": 1e6}[m.group(2)]


failures = []
for workers in (1, 2):
    with Magicd(workers=workers, extra=LOAD_CONF + f"profile_hz {HZ};\n") as srv:
        pids = srv.worker_pids()
        for poisson in (False, True):
            args = [LOADTEST, "-q", "-c", "16", "-t", "1", "-R", "1000",
                    "-d", f"{RUNS * (SECS + 1) + 4}s"]
            if poisson:
                args.append("--poisson")
            load = subprocess.Popen(args + ["generate", f"http://127.0.0.1:{srv.port}/"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.5)
                shape = "poisson" if poisson else "periodic"
                for run in range(RUNS):
                    watch = CpuWatch(pids)
                    st, _, body = srv.pprof(f"/debug/pprof/profile?seconds={SECS}")
                    time.sleep(0.05)
                    watch.done()
                    check(st == 200, f"profile status {st}")
                    top = pprof_tool(["-top", "-nodecount=5"], body)
                    got = total_seconds(top)
                    t0, dur = profile_window(body)
                    used = (watch.at(t0 + dur) - watch.at(t0)) / 1e9
                    line = (f"{workers} worker(s), {shape} 1000 req/s, run {run + 1}: "
                            f"profile {got:.3f}s, /proc {used:.3f}s")
                    print(line)
                    if used < 0.02:
                        failures.append(line + ": the workers used too little CPU to compare")
                    elif abs(got - used) > 0.10 * used:
                        failures.append(line + f": off by {100 * (got - used) / used:+.1f}%")
                raw = pprof_tool(["-raw"], body)
                check(re.search(r"CPU timer: (perf_event task-clock|timer_create|setitimer)",
                                raw), "the profile does not say which CPU timer it used:\n"
                      + raw[:800])
            finally:
                load.kill()
                load.wait()

check(not failures, "CPU profile does not match /proc:\n" + "\n".join(failures))
print("ok")
