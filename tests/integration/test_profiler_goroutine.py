"""goroutine?debug=2 and ?debug=1 are in Go's text formats, read by a Go
stack-dump parser (tests/integration/goparse: panicparse's rules, standard
library only).

Asserts: with 2 workers and 4 idle keep-alive connections open, the
debug=2 dump parses goroutine by goroutine with no error; it holds one
"running" goroutine per worker whose frames are real functions (ev_run_once
or epoll_wait) and one "IO wait" goroutine per connection whose wait reason
carries its state, peer and request line, with small sequential ids as Go's
are, not pids; debug=1 parses as runtime/pprof's "goroutine profile: total
N", every frame's PC one of its group's and a code address.
"""
import os
import re
import socket
import subprocess
import tempfile
import time

from harness import Magicd, check
from profiler_util import need_go

need_go()
HERE = os.path.dirname(os.path.abspath(__file__))


def goparse(mode, text):
    d = tempfile.mkdtemp(prefix="goparse-")
    env = dict(os.environ, HOME=d, GOCACHE=os.path.join(d, "cache"), GO111MODULE="off",
               GOFLAGS="")
    r = subprocess.run(["go", "run", os.path.join(HERE, "goparse", "main.go"), mode],
                       input=text, capture_output=True, text=True, env=env, timeout=180)
    check(r.returncode == 0, f"Go parser rejects goroutine {mode}: {r.stderr}\n{text[:2000]}")
    return r.stdout


with Magicd(workers=2) as srv:
    workers = srv.worker_pids()
    socks = []
    for i in range(4):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        socks.append(s)
    time.sleep(0.2)
    st, _, body = srv.pprof("/debug/pprof/goroutine?debug=2")
    check(st == 200, f"debug=2 status {st}")
    dump = body.decode()
    out = goparse("dump", dump)
    rows = [l.split("\t") for l in out.splitlines()]
    print(out)
    ids = [int(r[0]) for r in rows]
    check(ids == list(range(1, len(ids) + 1)), f"ids are not 1..N: {ids}")
    running = [r for r in rows if r[1].startswith("running (worker")]
    check(len(running) == len(workers), f"{len(running)} worker goroutines for {workers}")
    check(all(int(r[3]) >= 2 for r in running), f"worker stacks too short: {running}")
    check(re.search(r"^(ev_run_once|epoll_wait|__GI_epoll_wait|epoll_pwait)\(\.\.\.\)$", dump, re.M),
          "no event-loop frame in the workers' stacks:\n" + dump[:1500])
    idle = [r for r in rows if r[1].startswith("IO wait (keep-alive idle; peer 127.0.0.1:")]
    check(len(idle) >= len(socks), f"{len(idle)} idle connections for {len(socks)}:\n{out}")
    check(all(r[4] == "magicd.(*conn).keepAliveIdle" for r in idle), f"idle frames: {idle}")
    check(all('"GET /healthz' in r[1] for r in idle), f"request line: {idle}")
    check(not any(str(p) == r[0] for p in workers for r in rows), "pids used as goroutine ids")

    st, _, body = srv.pprof("/debug/pprof/goroutine?debug=1")
    check(st == 200, f"debug=1 status {st}")
    out = goparse("group", body.decode())
    m = re.match(r"total (\d+) groups (\d+)", out)
    check(m and int(m.group(1)) == len(rows), f"debug=1 total {out} vs debug=2 {len(rows)}")
    print(out)
    for s in socks:
        s.close()

print("ok")
