"""Every /debug/pprof endpoint of the profiler, read the way Go users read
them: binary profiles with `go tool pprof` (from a directory without the
binary), text forms by eye, headers and error strings as Go's
net/http/pprof sends them.

Asserts: index page with counts and drop counters; heap, allocs, block,
mutex, goroutine, threadcreate parse and carry Go's headers; alloc_space
grows with the number of requests; heap/block ?seconds=N delta profiles
subtract (a delta over an idle window is a sliver, one over a busy window is
smaller than the cumulative profile); heap?gc=1; debug=1 text forms and
goroutine?debug=2 with one entry per open connection (peer, age, state,
request line); cmdline; symbol GET and POST; every bad parameter gets Go's
status and message with X-Go-Pprof: 1.
"""
import http.client
import os
import re
import socket
import time

from harness import Magicd, check
from profiler_util import LOAD_CONF, Load, need_go, pprof_tool

need_go()
# Under AddressSanitizer the malloc interposer is compiled out (ASan owns
# malloc): heap and allocs are valid but empty, so their numbers are not
# checked there.
ASAN = bool(os.environ.get("MAGICD_ASAN"))


def total_of(top):
    m = re.search(r"of ([\d.]+)([kMG]?B|\w*) total", top)
    check(m, "no total in:\n" + top[:600])
    units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
    return float(m.group(1)) * units.get(m.group(2), 1)


def samples_total(top):
    """Sum of the sample values pprof reports (0 when the profile is empty)."""
    if "Showing nodes accounting for 0" in top or "of 0 total" in top:
        return 0
    return total_of(top)


def bad(srv, path, status, msg):
    st, h, body = srv.pprof(path)
    check(st == status, f"{path}: status {st}, want {status}")
    check(body.decode() == msg + "\n", f"{path}: body {body!r}, want {msg!r}")
    check(h.get("x-go-pprof") == "1", f"{path}: no X-Go-Pprof: 1 ({h})")
    check(h.get("content-type") == "text/plain; charset=utf-8", f"{path}: {h}")
    check("content-disposition" not in h, f"{path}: Content-Disposition on an error")


def binary(srv, path, name):
    st, h, body = srv.pprof(path)
    check(st == 200, f"{path}: status {st} {body[:200]!r}")
    check(h.get("content-type") == "application/octet-stream", f"{path}: {h}")
    check(h.get("content-disposition") == f'attachment; filename="{name}"', f"{path}: {h}")
    check(h.get("x-content-type-options") == "nosniff", f"{path}: {h}")
    check(body[:2] == b"\x1f\x8b", f"{path}: not gzip")
    return body


def text(srv, path):
    st, h, body = srv.pprof(path)
    check(st == 200, f"{path}: status {st}")
    check(h.get("content-type") == "text/plain; charset=utf-8", f"{path}: {h}")
    return body.decode(errors="replace")


# A small heap sampling rate: a worker allocates little per request (buffers
# and arenas are reused), so "alloc_space grows" needs more than a few
# samples per second at the default 512 KiB.
with Magicd(workers=2, extra=LOAD_CONF + "heap_sample_bytes 16k;\n") as srv:
    # ---- bad parameters: Go's status codes and strings
    pos = 'invalid value for "seconds" - must be a positive integer'
    for p in ("profile?seconds=-1", "profile?seconds=abc", "profile?seconds=0",
              "heap?seconds=-1", "heap?seconds=abc", "allocs?seconds=0", "block?seconds=1.5",
              "mutex?seconds=-3", "goroutine?seconds=0"):
        bad(srv, "/debug/pprof/" + p, 400, pos)
    for p in ("profile?seconds=100000", "heap?seconds=100000"):
        bad(srv, "/debug/pprof/" + p, 400, "profile duration exceeds server's WriteTimeout")
    bad(srv, "/debug/pprof/heap?seconds=1&debug=1", 400,
        "seconds and debug params are incompatible")
    bad(srv, "/debug/pprof/nosuch", 404, "Unknown profile")
    bad(srv, "/debug/pprof/trace2", 404, "Unknown profile")
    st, h, body = srv.pprof("/nothing-here")
    check(st == 404 and body == b"404 page not found\n", f"non-pprof path: {st} {body!r}")

    # ---- alloc_space grows with the number of requests
    def alloc_space():
        return total_of(pprof_tool(["-sample_index=alloc_space", "-top"],
                                   binary(srv, "/debug/pprof/allocs", "allocs")))

    if not ASAN:
        a0 = alloc_space()
        Load(srv, 2, connections=4).start().wait()
        a1 = alloc_space()
        Load(srv, 4, connections=4).start().wait()
        a2 = alloc_space()
        print(f"alloc_space: {a0:.0f} -> {a1:.0f} -> {a2:.0f} bytes")
        check(a0 < a1 < a2, f"alloc_space does not grow with requests: {a0} {a1} {a2}")

    # ---- delta profiles subtract: over an idle second, only what an idle
    # worker allocates (the revocation poll's store reads, every ~200 ms)
    # is left, a sliver of the cumulative profile the load built up.
    idle = samples_total(pprof_tool(["-sample_index=alloc_space", "-top"],
                                    binary(srv, "/debug/pprof/allocs?seconds=1", "allocs-delta")))
    if ASAN:
        check(idle == 0, f"allocs delta under ASan holds {idle} bytes")
    else:
        print(f"allocs delta over an idle second: {idle:.0f} bytes of {a2:.0f}")
        check(idle < 0.05 * a2, f"allocs delta over an idle second: {idle} of {a2} bytes")

    # ---- keep-alive connections the goroutine profile must show
    idle_socks = []
    for i in range(5):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        idle_socks.append(s)

    # ---- under load: every profile, and delta profiles
    load = Load(srv, 8, connections=8).start()
    time.sleep(0.5)
    delta = binary(srv, "/debug/pprof/heap?seconds=2", "heap-delta")
    bdelta = binary(srv, "/debug/pprof/block?seconds=2", "block-delta")
    heap = binary(srv, "/debug/pprof/heap", "heap")
    gc = binary(srv, "/debug/pprof/heap?gc=1", "heap")
    allocs = binary(srv, "/debug/pprof/allocs", "allocs")
    block = binary(srv, "/debug/pprof/block", "block")
    mutex = binary(srv, "/debug/pprof/mutex", "mutex")
    gor = binary(srv, "/debug/pprof/goroutine", "goroutine")
    thr = binary(srv, "/debug/pprof/threadcreate", "threadcreate")
    gor1 = text(srv, "/debug/pprof/goroutine?debug=1")
    gor2 = text(srv, "/debug/pprof/goroutine?debug=2")
    heap1 = text(srv, "/debug/pprof/heap?debug=1")
    block1 = text(srv, "/debug/pprof/block?debug=1")
    mutex1 = text(srv, "/debug/pprof/mutex?debug=1")
    st, h, index = srv.pprof("/debug/pprof/")
    load.wait()

    for name, data in (("heap", heap), ("gc", gc), ("allocs", allocs), ("block", block),
                       ("mutex", mutex), ("goroutine", gor), ("threadcreate", thr),
                       ("heap-delta", delta), ("block-delta", bdelta)):
        pprof_tool(["-top"], data)  # parses
    raw = pprof_tool(["-raw"], heap)
    heap_checks = not ASAN
    for t in ("alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
              "inuse_space/bytes"):
        check(t in raw, f"heap sample type {t} missing")
    if heap_checks:
        check(re.search(r"\w+\.c:\d+", pprof_tool(["-traces", "-lines"], allocs)),
              "no file:line in the allocs profile")
        at = pprof_tool(["-sample_index=alloc_space", "-top"], allocs)
        # magicd's own frames on the allocation stacks (buffers and arenas
        # are reused, so most bytes are allocated by SQLite and OpenSSL on
        # behalf of these)
        check(re.search(r"\s(route_generate|store_user_exists|csrf_check|conn_open)\b", at),
              "magicd frames missing from the allocs profile:\n" + at)
        # delta: positive while requests run, less than the cumulative total
        dsum = samples_total(pprof_tool(["-sample_index=alloc_space", "-top"], delta))
        csum = total_of(at)
        print(f"heap?seconds=2 alloc_space {dsum:.0f} of {csum:.0f} cumulative")
        check(0 < dsum < csum, f"heap delta {dsum} not in (0, {csum})")

    # block: the store's synchronous SQLite calls show up under load
    bt = pprof_tool(["-top"], block)
    print(bt[:800])
    check(samples_total(bt) > 0, "block profile empty under load")
    check(re.search(r"store_\w+|sqlite3_step", bt), "store calls missing from block profile")
    check(samples_total(pprof_tool(["-top"], bdelta)) > 0, "block delta empty under load")

    # text forms
    check(heap1.startswith("heap profile: "), heap1[:200])
    check(ASAN or re.search(r"^#\t0x[0-9a-f]+\t\w+\+0x[0-9a-f]+\t\S+:\d+$", heap1, re.M), heap1[:600])
    check(block1.startswith("--- contention:\ncycles/second="), block1[:200])
    check(mutex1.startswith("--- contention:\ncycles/second=") and "sampling period=" in mutex1,
          mutex1[:200])

    # goroutines: one per worker + one per open connection
    m = re.match(r"goroutine profile: total (\d+)\n", gor1)
    check(m, gor1[:300])
    check(int(m.group(1)) >= 2 + len(idle_socks), f"goroutines {m.group(1)} < workers + 5")
    check("ev_run_once" in gor1 or "epoll_wait" in gor1, "worker stack missing:\n" + gor1[:1500])
    # our five idle keep-alive connections, each with peer, age, state, request
    ours = re.findall(r"^goroutine \d+ \[IO wait \(keep-alive idle; peer 127\.0\.0\.1:\d+; "
                      r"\d+ requests; age \d+ ms; .*\"GET /healthz[^\"]*\"\)\]:$", gor2, re.M)
    check(len(ours) >= len(idle_socks), f"{len(ours)} idle /healthz connections in debug=2:\n"
          + gor2[-2000:])
    check(re.search(r"goroutine \d+ \[running \(worker \d pid \d+\)\]:", gor2), gor2[:500])
    gtags = pprof_tool(["-tags"], gor)
    check("state:" in gtags and "keep-alive idle" in gtags, gtags)
    for s in idle_socks:
        s.close()

    # index
    check(st == 200 and h.get("content-type") == "text/html; charset=utf-8", str(h))
    page = index.decode()
    for name in ("allocs", "block", "goroutine", "heap", "mutex", "profile", "threadcreate",
                 "cmdline"):
        check(f"<a href='{name}?debug=1'>{name}</a>" in page, f"index row {name} missing")
    check('<a href="goroutine?debug=2">full goroutine stack dump</a>' in page, "index link")
    check(ASAN or re.search(r"<tr><td>[1-9]\d*</td><td><a href='heap\?debug=1'>", page),
          "heap count 0")
    check("dropped (sample ring full)" in page, "CPU drop counters missing from the index")

    # cmdline: the master's argv, NUL-separated
    cl = text(srv, "/debug/pprof/cmdline")
    check(cl.split("\0")[-2:] == ["-c", srv.conf], f"cmdline {cl!r}")

    # symbol: GET without addresses, then GET and POST with one from a stack
    check(text(srv, "/debug/pprof/symbol") == "num_symbols: 1\n", "symbol GET")
    m = re.search(r"^#\t(0x[0-9a-f]+)\tev_run_once\+", gor1, re.M)
    check(m, "no ev_run_once frame to look up")
    addr = m.group(1)
    # Go's FuncForPC names the innermost function at a PC: the first line
    fn = re.search(r"^#\t" + addr + r"\t(\w+)\+", gor1, re.M).group(1)
    out = text(srv, f"/debug/pprof/symbol?{addr}")
    check(out == f"num_symbols: 1\n{addr} {fn}\n", f"symbol GET {addr}: {out!r}")
    c = http.client.HTTPConnection("127.0.0.1", srv.pport, timeout=10)
    c.request("POST", "/debug/pprof/symbol", body=f"{addr}+0x0+{addr}")
    r = c.getresponse()
    out = r.read().decode()
    c.close()
    check(r.status == 200 and out == f"num_symbols: 1\n{addr} {fn}\n{addr} {fn}\n",
          f"symbol POST: {out!r}")

print("ok")
