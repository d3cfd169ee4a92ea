"""CPU profile end to end: SIGPROF sampling in the workers -> shm rings ->
profiler process -> profile.proto -> `go tool pprof`, under generate load.

Asserts: the profile parses without the binary at hand; functions and
file:line are present; the worker's own request handling and token sealing
are in -top; labels pid, worker and route are present and -tagfocus=route
narrows the profile; the samples add up to the CPU time the workers used
over the window (/proc/PID/stat) within 20%; two CPU profiles may run at
once (Go would refuse the second).
"""
import re
import sys
import threading
import time

from harness import Magicd, check
from profiler_util import LOAD_CONF, CLK_TCK, Load, need_go, pprof_tool, proc_cpu_ticks

need_go()
SECS = 6

with Magicd(workers=2, extra=LOAD_CONF) as srv:
    workers = srv.worker_pids()
    load = Load(srv, SECS + 4).start()
    time.sleep(1.0)
    second = {}

    def other_profile():
        second["r"] = srv.pprof("/debug/pprof/profile?seconds=3")

    t = threading.Thread(target=other_profile)
    cpu0 = {p: proc_cpu_ticks(p) for p in workers}
    t0 = time.time()
    t.start()
    st, hdrs, body = srv.pprof(f"/debug/pprof/profile?seconds={SECS}")
    cpu1 = {p: proc_cpu_ticks(p) for p in workers}
    wall = time.time() - t0
    t.join()
    load.wait()

    check(st == 200, f"profile status {st}")
    check(hdrs.get("content-type") == "application/octet-stream", f"content-type {hdrs}")
    check(hdrs.get("content-disposition") == 'attachment; filename="profile"', str(hdrs))
    check(hdrs.get("x-content-type-options") == "nosniff", str(hdrs))
    check(body[:2] == b"\x1f\x8b", "profile is not gzip")
    check(abs(wall - SECS) < 1.5, f"profile?seconds={SECS} took {wall:.1f}s")
    st2, _, body2 = second["r"]
    check(st2 == 200 and body2[:2] == b"\x1f\x8b", f"concurrent CPU profile: {st2}")

    # every node: with kernel frames (root) a profile has many more nodes
    # than the worker's own functions, and -top cuts at -nodecount
    top = pprof_tool(["-top", "-nodecount=5000", "-nodefraction=0"], body)
    print(top[:1500])
    m = re.search(r"Total samples = ([\d.]+)(ms|s)", top)
    check(m, "no total in pprof -top")
    total_s = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    used_s = sum(cpu1[p] - cpu0[p] for p in workers) / CLK_TCK
    print(f"samples: {total_s:.2f}s of CPU, /proc says the workers used {used_s:.2f}s")
    check(used_s > 0.5, f"workers used too little CPU to compare ({used_s:.2f}s)")
    check(abs(total_s - used_s) <= 0.2 * used_s,
          f"CPU samples {total_s:.2f}s vs worker CPU time {used_s:.2f}s: off by more than 20%")

    # the worker's own code, by name. Token sealing is ~1% of a request, a
    # couple of samples a second: under a sanitizer build, take more if the
    # first profile happened to miss it.
    seal = r"\stok(en_link)?_seal\w*\b"
    extra = b""
    for attempt in range(3):
        if re.search(seal, top):
            break
        more = Load(srv, 6).start()
        st3, _, extra = srv.pprof("/debug/pprof/profile?seconds=5")
        more.wait()
        top = pprof_tool(["-top", "-nodecount=5000", "-nodefraction=0"], extra)
    for fn in (r"\sroute_dispatch\b", r"\sroute_generate\b", seal):
        check(re.search(fn, top), f"{fn} not in pprof -top:\n{top}")

    # file:line present, from DWARF, with the binary absent
    lines = pprof_tool(["-traces", "-lines"], body)
    check(re.search(r"worker/\w+\.c:\d+", lines), "no worker/*.c:LINE frames in -traces -lines")

    # labels
    tags = pprof_tool(["-tags"], body)
    print(tags[:1200])
    for k in ("pid", "worker", "route"):
        check(re.search(r"^\s*" + k + r":", tags, re.M), f"label {k} missing:\n{tags}")
    # the values of the pid: section only (up to the next "key:" line)
    sect = re.search(r"^\s*pid:(.*?)(?=^\s*\w+:\s)", tags + "\n end: ", re.M | re.S)
    pids = set(re.findall(r"(\d+)$", sect.group(1), re.M)) if sect else set()
    check(pids and pids <= {str(p) for p in workers}, f"pid labels {pids} are not the workers {workers}")
    check("POST /magic/generate" in tags, "route POST /magic/generate not labelled")

    # -tagfocus narrows
    focused = pprof_tool(["-top", "-nodefraction=0", "-tagfocus=route=generate"], body)
    mf = re.search(r"Total samples = ([\d.]+)(ms|s)", focused)
    mshow = re.search(r"Showing nodes accounting for ([\d.]+)(ms|s)", focused)
    check(mf and mshow, focused[:500])
    shown = float(mshow.group(1)) / (1000 if mshow.group(2) == "ms" else 1)
    check(0 < shown < total_s, f"-tagfocus=route=generate did not narrow: {shown} of {total_s}")
    if extra:
        focused = pprof_tool(["-top", "-nodefraction=0", "-tagfocus=route=generate"], extra)
    check(re.search(r"tok(en_link)?_seal", focused), "token sealing missing under the generate route")

print("ok")
