"""Profiles survive reloads.

Asserts: a CPU profile of 7 s with a HUP 2 s into it runs its whole
duration and holds samples of both the old and the new generation of
workers; after the old workers have exited, the cumulative heap profile
still holds their records (their allocations, none of them in use), as a
Go process keeps its history; a profile cut short because the profiler is
told to stop (TERM) is answered with what it has and says so in its
comments.
"""
import os
import re
import signal
import threading
import time

from harness import Magicd, check
from profiler_util import LOAD_CONF, Load, need_go, pprof_tool

need_go()
SECS = 7


def pid_labels(tags):
    """The values of the pid label in `go tool pprof -tags` output."""
    if "pid:" not in tags:
        return set()
    part = tags.split("pid:")[1]
    part = re.split(r"^\s*\w+:\s", part, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r": (\d+)$", part, re.M))


with Magicd(workers=2, extra=LOAD_CONF + "heap_sample_bytes 4k;\n") as srv:
    load = Load(srv, SECS + 12, connections=4).start()
    time.sleep(1.0)
    old_workers = set(srv.worker_pids())
    profiler = srv.profiler_pid()
    res = {}

    def long_profile():
        t0 = time.time()
        res["r"] = srv.pprof(f"/debug/pprof/profile?seconds={SECS}", timeout=SECS + 30)
        res["took"] = time.time() - t0

    t = threading.Thread(target=long_profile)
    t.start()
    time.sleep(2.0)
    srv.signal(signal.SIGHUP)
    end = time.time() + 15
    while time.time() < end:
        w = set(srv.worker_pids())
        if len(w) >= 2 and not (w & old_workers):
            break
        time.sleep(0.1)
    new_workers = set(srv.worker_pids())
    check(new_workers and not (new_workers & old_workers), "no new worker generation after HUP")
    t.join(SECS + 40)
    check("r" in res, "the CPU profile spanning the reload got no answer")
    st, _, body = res["r"]
    check(st == 200, f"profile status {st}")
    print(f"profile spanning the HUP took {res['took']:.1f}s of {SECS}s")
    check(res["took"] >= SECS - 0.5, f"the profile was cut short by the reload: {res['took']:.1f}s")
    top = pprof_tool(["-top", "-nodecount=3"], body)
    m = re.search(r"Duration: ([\d.]+)s", top)
    check(m and float(m.group(1)) >= SECS - 0.5, "profile duration:\n" + top[:400])
    pids = pid_labels(pprof_tool(["-tags"], body))
    print(f"old {sorted(old_workers)}, new {sorted(new_workers)}, pid labels {sorted(pids)}")
    check(pids & {str(p) for p in old_workers}, "no samples of the old generation")
    check(pids & {str(p) for p in new_workers}, "no samples of the new generation")

    # the old workers are gone; their heap records are not (there are none
    # under AddressSanitizer, which compiles the heap sampler out)
    end = time.time() + 15
    while time.time() < end and any(str(p) in open(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read().split() for p in old_workers):
        time.sleep(0.1)
    st, _, heap = srv.pprof("/debug/pprof/allocs")
    check(st == 200, f"allocs status {st}")
    hp = pid_labels(pprof_tool(["-tags", "-sample_index=alloc_space"], heap))
    check(os.environ.get("MAGICD_ASAN") or hp & {str(p) for p in old_workers},
          f"the retired workers' allocations left the allocs profile: {hp} vs {old_workers}")
    inuse = pprof_tool(["-top", "-sample_index=inuse_space",
                        "-tagfocus=pid=" + "|".join(str(p) for p in old_workers)], heap)
    m = re.search(r"Showing nodes accounting for ([\d.]+)", inuse)
    check(not m or float(m.group(1)) == 0,
          "retired workers still have memory in use:\n" + inuse[:600])
    check(srv.profiler_pid() == profiler, "the profiler was replaced by the reload")

    # told to stop in the middle of a profile: answered, and it says so
    res = {}
    t = threading.Thread(target=long_profile)
    t.start()
    time.sleep(1.5)
    os.kill(srv.profiler_pid(), signal.SIGTERM)
    t.join(30)
    check("r" in res and res["r"][0] == 200, f"TERM dropped the running profile: {res}")
    raw = pprof_tool(["-raw"], res["r"][2])
    check(re.search(r"Comment: .*cut short", raw), "a cut-short profile does not say so:\n"
          + raw[:600])
    load.wait()

print("ok")
