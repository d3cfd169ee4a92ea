"""Heap blind spots: a worker's setup and the heap it inherits.

With heap_sample_bytes 1 (every allocation sampled, so nothing here is
left to chance) a freshly started worker's heap profile, read with go tool
pprof, must hold:
- what the worker allocated while setting up, before it served anything:
  the user store's SQLite statements (store_open under app_open under
  worker_setup), the templates, OpenSSL;
- the heap it inherited from the master (the configuration, the argument
  copies made in main()), under the root frame magicd.inheritedFromMaster
  and the label origin=inherited, still in use; the text form says so too.
"""
import os
import re

from harness import Magicd, check, skip
from profiler_util import decode_profile, need_go, pprof_tool

need_go()
if os.environ.get("MAGICD_ASAN"):
    skip("the heap sampler is compiled out under AddressSanitizer")

with Magicd(workers=1, extra="heap_sample_bytes 1;\n") as srv:
    st, _, body = srv.pprof("/debug/pprof/heap")
    check(st == 200, f"heap status {st}")
    st, _, text = srv.pprof("/debug/pprof/heap?debug=1")
    check(st == 200, f"heap?debug=1 status {st}")

p = decode_profile(body)


def names(locs):
    return [p["functions"][f]["name"] for l in locs for f, _ in p["locations"][l]["lines"]]


setup = [(v, names(ls)) for v, _, ls in p["samples"] if "worker_setup" in names(ls)]
setup_bytes = sum(v[1] for v, _ in setup)
sqlite = sum(v[1] for v, n in setup if "store_open" in n and "app_open" in n)
print(f"worker setup: {len(setup)} stacks, {setup_bytes} bytes allocated, {sqlite} by store_open")
check(setup_bytes > 0 and sqlite > 0, "the worker's setup allocations are missing")

inh = [(v, l, names(ls)) for v, l, ls in p["samples"] if l.get("origin") == "inherited"]
inuse = sum(v[3] for v, _, _ in inh)
print(f"inherited from the master: {len(inh)} stacks, {inuse} bytes in use")
check(inh and inuse > 0, "no inherited heap reported")
check(all(n and n[-1] == "magicd.inheritedFromMaster" for _, _, n in inh),
      f"inherited stacks without their root frame: {[n[-3:] for _, _, n in inh][:5]}")
check(any("main" in n for _, _, n in inh), "the inherited heap is not main()'s")
check(not any("magicd.inheritedFromMaster" in names(ls) for v, l, ls in p["samples"]
              if l.get("origin") != "inherited"), "the pseudo-frame on a worker's own heap")

top = pprof_tool(["-top", "-sample_index=inuse_space", "-tagfocus=origin=inherited"], body)
check("magicd.inheritedFromMaster" in top, top[:1200])
check("magicd.inheritedFromMaster" in text.decode(), "heap?debug=1 does not name it")
m = re.search(r"heap profile: (\d+): (\d+)", text.decode())
check(m and int(m.group(2)) > 0, "heap?debug=1 header")
print("ok")
