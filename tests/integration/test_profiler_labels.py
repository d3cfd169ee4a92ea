"""Labels that mean something across nodes and requests.

Asserts: every sample of a CPU and a heap profile carries node (the
node_name directive) and version (what `magicd version` says) besides pid
and worker; CPU samples taken while a request ran carry request_id, the id
the access log shows for that request; -tagfocus=request_id=ID narrows the
profile to that one request; a server without node_name labels its samples
with the host name.
"""
import os
import re
import socket
import subprocess
import time

from harness import BIN, Magicd, check
from profiler_util import LOAD_CONF, Load, need_go, pprof_tool

need_go()
# Under AddressSanitizer the heap sampler is compiled out (ASan owns
# malloc): the allocs profile is valid but holds no samples to label.
ASAN = bool(os.environ.get("MAGICD_ASAN"))


def label_values(tags, key):
    if f"{key}:" not in tags:
        return set()
    part = tags.split(f"{key}:", 1)[1]
    part = re.split(r"^\s*\w+:\s", part, maxsplit=1, flags=re.M)[0]
    return set(re.findall(r"\): (\S+)$", part, re.M))


version = subprocess.run([BIN, "version"], capture_output=True, text=True).stdout.split()[2]
with Magicd(workers=2, extra=LOAD_CONF + "node_name node-a;\nprofile_hz 500;\n") as srv:
    load = Load(srv, 6, connections=8).start()
    time.sleep(0.5)
    st, _, cpu = srv.pprof("/debug/pprof/profile?seconds=3")
    check(st == 200, f"profile status {st}")
    st, _, heap = srv.pprof("/debug/pprof/allocs")
    load.wait()
    time.sleep(1.5)  # the access log's flush interval
    for name, body in (("cpu", cpu),) + (() if ASAN else (("allocs", heap),)):
        tags = pprof_tool(["-tags"], body)
        check(label_values(tags, "node") == {"node-a"}, f"{name}: node label:\n{tags[:1500]}")
        check(label_values(tags, "version") == {version}, f"{name}: version label:\n{tags[:1500]}")
    tags = pprof_tool(["-tags"], cpu)
    ids = label_values(tags, "request_id")
    print(f"{len(ids)} request ids on CPU samples, e.g. {sorted(ids)[:3]}")
    check(len(ids) > 5, "CPU samples carry no request_id:\n" + tags[:1500])
    logged = set(re.findall(r'"([0-9a-f]{16})"$', open(srv.access_log).read(), re.M))
    check(ids & logged, f"request ids on samples are not the access log's: {sorted(ids)[:5]}")
    one = sorted(ids)[0]
    focused = pprof_tool(["-top", "-tagfocus=request_id=" + one], cpu)
    m = re.search(r"Showing nodes accounting for ([\d.]+)(ms|s), ([\d.]+)% of", focused)
    check(m and 0 < float(m.group(3)) < 50, "-tagfocus=request_id did not isolate one request:\n"
          + focused[:600])

with Magicd(workers=1, extra=LOAD_CONF) as srv:
    st, _, gor = srv.pprof("/debug/pprof/goroutine")
    tags = pprof_tool(["-tags"], gor)
    check(label_values(tags, "node") == {socket.gethostname()},
          f"default node label is not the host name {socket.gethostname()}:\n{tags[:800]}")

print("ok")
