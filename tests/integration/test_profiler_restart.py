"""The profiler process can die without the workers noticing.

Asserts: SIGKILL to the profiler in the middle of profile?seconds=N leaves
the workers serving (requests keep succeeding), the master starts a new
profiler on the same port, and the new one answers a CPU profile with
samples that `go tool pprof` reads; SIGQUIT to a profiler in the middle of a
CPU profile answers that profile at once with what it collected (a complete,
readable profile) instead of dropping it; USR1 (reopen logs) leaves the
profiler running; a reload (HUP) keeps the profiler, which then profiles
the new workers.
"""
import os
import re
import signal
import threading
import time

from harness import Magicd, check
from profiler_util import LOAD_CONF, Load, need_go, pprof_tool

need_go()


def wait_new_profiler(srv, old, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        p = srv.profiler_pid()
        if p and p != old:
            try:
                st, _, _ = srv.pprof("/debug/pprof/", timeout=2)
                if st == 200:
                    return p
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError("no new profiler process after the old one died\n" + srv.log())


with Magicd(workers=2, extra=LOAD_CONF) as srv:
    load = Load(srv, 20, connections=4).start()
    time.sleep(0.5)

    # ---- USR1 (the master relays "reopen logs" to its children) is not fatal
    old = srv.profiler_pid()
    check(old, "no profiler process")
    srv.signal(signal.SIGUSR1)
    time.sleep(0.5)
    check(srv.profiler_pid() == old, "the profiler died on the master's USR1 (reopen logs)")
    st, _, _ = srv.pprof("/debug/pprof/")
    check(st == 200, f"profiler after USR1: {st}")

    # ---- SIGKILL mid-profile
    res = {}

    def long_profile():
        try:
            res["r"] = srv.pprof("/debug/pprof/profile?seconds=10", timeout=30)
        except Exception as e:  # the connection dies with the process
            res["e"] = e

    t = threading.Thread(target=long_profile)
    t.start()
    time.sleep(1.0)
    os.kill(old, signal.SIGKILL)
    t.join(30)
    check("r" not in res or res["r"][0] != 200, "a killed profiler answered 200")
    for i in range(20):
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, f"workers stopped serving after the profiler died: {st}")
    new = wait_new_profiler(srv, old)
    print(f"profiler {old} killed, {new} answers")
    st, h, body = srv.pprof("/debug/pprof/profile?seconds=2")
    check(st == 200, f"new profiler: profile status {st}")
    top = pprof_tool(["-top"], body)
    check(re.search(r"Total samples = [1-9]", top), "new profiler's CPU profile is empty:\n" + top)

    # ---- SIGQUIT mid-profile: answered now, with what was collected
    res = {}
    t = threading.Thread(target=long_profile)
    t0 = time.time()
    t.start()
    time.sleep(1.5)
    os.kill(new, signal.SIGQUIT)
    t.join(30)
    took = time.time() - t0
    check("r" in res, f"QUIT dropped the running profile: {res.get('e')}")
    st, h, body = res["r"]
    check(st == 200 and took < 6, f"QUIT: status {st} after {took:.1f}s (want 200 well before 10s)")
    top = pprof_tool(["-top"], body)
    m = re.search(r"Duration: ([\d.]+)(ms|s)", top)
    check(m and float(m.group(1)) / (1000 if m.group(2) == "ms" else 1) < 5,
          "QUIT profile duration:\n" + top[:400])
    third = wait_new_profiler(srv, new)

    # ---- reload: a new generation of workers, the same profiler
    old_workers = set(srv.worker_pids())
    srv.signal(signal.SIGHUP)
    end = time.time() + 15
    while time.time() < end:
        w = set(srv.worker_pids())
        if len(w) >= 2 and not (w & old_workers):
            break
        time.sleep(0.1)
    new_workers = set(srv.worker_pids())
    check(new_workers and not (new_workers & old_workers), "no new worker generation after HUP")
    check(srv.profiler_pid() == third, "the reload replaced the profiler")
    st, h, body = srv.pprof("/debug/pprof/profile?seconds=2")
    check(st == 200, f"after reload: profile status {st}")
    tags = pprof_tool(["-tags"], body)
    pids = set(re.findall(r": (\d+)$", tags.split("route:")[0].split("pid:")[1], re.M))
    print(f"after HUP: workers {sorted(new_workers)}, pid labels {sorted(pids)}")
    check(pids and pids <= {str(p) for p in new_workers},
          f"after reload the CPU profile is not of the new workers: {pids} vs {new_workers}")
    st, _, _ = srv.request("GET", "/healthz")
    check(st == 200, "workers not serving at the end")
    load.wait()

print("ok")
