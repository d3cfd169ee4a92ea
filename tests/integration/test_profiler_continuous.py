"""profile_continuous on: workers sample all the time, not only while a CPU
profile is being collected, and the profiler keeps draining so the rings
never fill.

Asserts: with no profile requested, the index page shows the workers
taking CPU samples under load and dropping none; a profile?seconds=N then
holds the samples of its own window only (its CPU total is within 20% of
what the workers used in that window - the profile's own time and
duration, /proc read meanwhile - not the whole run's).
"""
import re
import time

from harness import Magicd, check
from profiler_util import LOAD_CONF, CpuWatch, Load, need_go, pprof_tool, profile_window

need_go()


def counters(srv):
    st, _, body = srv.pprof("/debug/pprof/")
    check(st == 200, f"index status {st}")
    rows = re.findall(r"(\d+) CPU samples taken \((\d+) periods, \d+ catch-up signals\), "
                      r"(\d+) dropped", body.decode())
    check(rows, "no worker counters on the index page")
    return sum(int(r[0]) for r in rows), sum(int(r[2]) for r in rows)


with Magicd(workers=2, extra=LOAD_CONF + "profile_continuous on;\n") as srv:
    workers = srv.worker_pids()
    s0, _ = counters(srv)
    Load(srv, 4, connections=8).start().wait()
    s1, drops = counters(srv)
    print(f"continuous sampling: {s1 - s0} samples during 4 s of load, {drops} dropped")
    check(s1 - s0 > 20, "workers did not sample without a profile request")
    check(drops == 0, f"{drops} samples dropped with the profiler draining")

    load = Load(srv, 6, connections=8).start()
    time.sleep(1)
    watch = CpuWatch(workers)
    st, _, body = srv.pprof("/debug/pprof/profile?seconds=3")
    time.sleep(0.05)
    watch.done()
    load.wait()
    check(st == 200, f"profile status {st}")
    top = pprof_tool(["-top"], body)
    m = re.search(r"Total samples = ([\d.]+)(ms|s)", top)
    check(m, top[:400])
    total = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    t0, dur = profile_window(body)
    used = (watch.at(t0 + dur) - watch.at(t0)) / 1e9
    print(f"profile: {total:.2f}s of samples, workers used {used:.2f}s")
    check(used > 0.3 and abs(total - used) <= 0.2 * used,
          f"continuous-mode profile holds {total:.2f}s for {used:.2f}s of CPU")

print("ok")
