"""The CPU history: with profile_continuous on the profiler keeps 10-s CPU
profiles and serves any range of them at once (profile?start=&end=,
profile?since=).

Runs three wall-clock windows of 10 s on a server with 2 workers: idle,
a spike of generate load, idle. Then, without waiting for anything:
- each window fetched alone (start=T&end=T+10, RFC 3339 and unix seconds)
  is read by go tool pprof; the spike's window holds most of the CPU and
  the generate route, the idle ones little;
- the three fetched as one range is one profile whose samples are the sum
  of the three windows' (both sample types), and its CPU is within 20% of
  what /proc says the workers used in those 30 s;
- since=5m holds at least those;
- the index page shows the history: windows, time range, bytes, cap;
- bad start/end/since get a 400 with a Go-style message, and the server
  keeps serving.
"""
import re
import time
import datetime

from harness import Magicd, check
from profiler_util import LOAD_CONF, CpuWatch, Load, decode_profile, need_go, pprof_tool

need_go()
W = 10


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch(srv, query):
    st, hdrs, body = srv.pprof("/debug/pprof/profile?" + query)
    check(st == 200, f"profile?{query}: {st} {body[:200]!r}")
    return body


def totals(body):
    p = decode_profile(body)
    return (sum(v[0] for v, _, _ in p["samples"]), sum(v[1] for v, _, _ in p["samples"]),
            sum(v[0] for v, l, _ in p["samples"] if l.get("route") == "POST /magic/generate"), p)


with Magicd(workers=2, extra=LOAD_CONF + "profile_continuous on;\n") as srv:
    workers = srv.worker_pids()

    # Bad parameters first: 400 with Go's words, the server keeps serving.
    for q, msg in [("start=yesterday", 'invalid value for "start"'),
                   ("start=2026-13-01T00:00:00Z", 'invalid value for "start"'),
                   ("start=1700000000&end=soon", 'invalid value for "end"'),
                   ("since=-5m", 'invalid value for "since"'),
                   ("since=0s", 'invalid value for "since"'),
                   ("since=5", 'invalid value for "since"'),
                   ("since=5m&seconds=3", "seconds and since params are incompatible"),
                   ("since=5m&start=1700000000", "since and start/end params are incompatible"),
                   ("end=1700000000", 'missing "start"'),
                   ("start=1700000100&end=1700000000", 'invalid window - "end" must be after')]:
        st, hdrs, body = srv.pprof("/debug/pprof/profile?" + q)
        check(st == 400, f"profile?{q}: status {st}")
        check(msg in body.decode(), f"profile?{q}: {body!r}")
        check(hdrs.get("x-go-pprof") == "1", f"profile?{q}: no X-Go-Pprof header {hdrs}")
    st, _, _ = srv.request("GET", "/healthz")
    check(st == 200, "server stopped serving after bad history requests")

    # Line up on a window boundary: windows are [k*10 s, (k+1)*10 s) of the wall clock.
    now = time.time()
    t0 = (int(now) // W + 1) * W
    if t0 - now < 1:
        t0 += W
    time.sleep(t0 - now + 0.05)
    watch = CpuWatch(workers)
    time.sleep(W)                          # window A: idle
    Load(srv, W - 2, connections=8).start().wait()  # window B: the spike
    time.sleep(max(0.0, t0 + 3 * W + 0.3 - time.time()))  # window C idle; then a tick
    watch.done()

    wins = []
    for k in range(3):
        a = t0 + k * W
        q = f"start={rfc3339(a)}&end={rfc3339(a + W)}" if k != 1 else f"start={a}&end={a + W}"
        body = fetch(srv, q)
        top = pprof_tool(["-top"], body)
        check("Total samples" in top or "Showing nodes" in top, top[:300])
        wins.append(totals(body))
    for name, (s, ns, gen, _) in zip("ABC", wins):
        print(f"window {name}: {s} samples, {ns / 1e9:.2f} s CPU, {gen} samples in generate")
    a, b, c = wins
    check(b[1] > 0.3e9, f"the spike's window holds {b[1] / 1e9:.2f} s of CPU")
    check(b[1] > 4 * max(a[1], c[1]), "the spike's window does not stand out")
    # The route label spans the handler; reading the request and writing
    # the answer happen in the loop around it, for many connections at a
    # time, and are now about half of a generate's CPU: a third is plenty
    # to tell the spike's route from the idle windows' nothing.
    check(b[2] > 0.3 * b[0], f"generate holds {b[2]} of {b[0]} samples in the spike's window")
    check(a[2] == 0 and c[2] <= 0.05 * b[2], "generate samples in the idle windows")

    merged = fetch(srv, f"start={t0}&end={t0 + 3 * W}")
    ms, mns, mgen, mp = totals(merged)
    print(f"merged A..C: {ms} samples, {mns / 1e9:.2f} s CPU")
    check(ms == a[0] + b[0] + c[0] and mns == a[1] + b[1] + c[1],
          f"merged {ms}/{mns} != sum of windows {a[0] + b[0] + c[0]}/{a[1] + b[1] + c[1]}")
    check(any("history: 3 windows of 10 s merged" in x for x in mp["comments"]), mp["comments"])
    used = (watch.at((t0 + 3 * W) * 1e9) - watch.at(t0 * 1e9)) / 1e9
    print(f"workers used {used:.2f} s of CPU in those 30 s (/proc)")
    check(abs(mns / 1e9 - used) <= 0.2 * used, f"history holds {mns / 1e9:.2f} s for {used:.2f} s")
    top = pprof_tool(["-top", "-tagfocus=route=generate"], merged)
    check("generate" in top or "route_" in top, top[:500])

    since = fetch(srv, "since=5m")
    ss, _, _, _ = totals(since)
    check(ss >= ms, f"since=5m holds {ss} samples, less than the three windows' {ms}")

    st, _, body = srv.pprof("/debug/pprof/")
    m = re.search(r"CPU history: (\d+) windows of 10 s from (\S+) to (\S+), (\d+) bytes "
                  r"\(cap (\d+)", body.decode())
    check(m, "no CPU history line on the index page")
    n, first, last, nbytes, cap = int(m[1]), m[2], m[3], int(m[4]), int(m[5])
    print(f"index: {n} windows from {first} to {last}, {nbytes} bytes (cap {cap})")
    check(n >= 3 and 0 < nbytes <= cap and cap == 16 << 20, m[0])
    check(first <= rfc3339(t0) and last >= rfc3339(t0 + 3 * W), m[0])

print("ok")
