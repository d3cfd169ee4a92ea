"""Symbols pprof can finish: stripped libraries, the vDSO, source paths.

A real shared library is built here with debug info, its debug file split
out (objcopy --only-keep-debug) and the library stripped, as a
distribution ships it. It is LD_PRELOADed into magicd and defines
sqlite3_step (exported, so .dynsym names it), which every generate request
calls through the library: it runs an internal function, spin_checksum,
that nothing in the stripped file names, then the real sqlite3_step.

Asserts on a CPU profile under generate load:
- the library's mapping carries the GNU build id of its ELF note and says
  it has no functions, file names, lines or inline frames, so pprof tries
  to symbolize it; its samples are there, spin_checksum's as bare addresses
  in that mapping (no invented "lib+0x..." functions), sqlite3_step still
  by its .dynsym name;
- pprof re-symbolizes it from the debug file installed as
  /usr/lib/debug/.build-id/xx/yyyy.debug (where Debian's -dbgsym packages
  put them): -top names spin_checksum, -list shows its source line. That
  directory is root's: unprivileged, this part is skipped with a reason;
- a [vdso] mapping is there, with its functions named;
- magicd's own file names are absolute, so `go tool pprof -list
  route_generate` shows the source, and with -trim_path/-source_path it
  reads a copy of the tree elsewhere (a marker in the copy shows up).
"""
import os
import re
import shutil
import subprocess
import tempfile

from harness import ROOT, Magicd, check, skip
from profiler_util import LOAD_CONF, Load, decode_profile, need_go, pprof_tool

need_go()
for tool in ("gcc", "objcopy", "strip", "readelf"):
    if not shutil.which(tool):
        skip(f"{tool} (binutils, gcc) is needed to build the stripped library")

SPIN_C = r"""
#include <dlfcn.h>
typedef struct sqlite3_stmt sqlite3_stmt;
static int (*real_step)(sqlite3_stmt *);
volatile unsigned long spin_sink;

/* Internal: after strip, no symbol names it. */
__attribute__((noinline)) static unsigned long spin_checksum(unsigned long x)
{
    for (int i = 0; i < 20000; i++)
        x = x * 6364136223846793005ul + 1442695040888963407ul; /* SPIN LINE */
    return x;
}

int sqlite3_step(sqlite3_stmt *st)
{
    if (!real_step)
        real_step = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
    spin_sink = spin_checksum(spin_sink);
    return real_step(st);
}
"""

tmp = tempfile.mkdtemp(prefix="magicd-sym-")
src = os.path.join(tmp, "spin.c")
lib = os.path.join(tmp, "libspin.so")
dbg = os.path.join(tmp, "libspin.debug")
with open(src, "w") as f:
    f.write(SPIN_C)


def run(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}")
    return r.stdout


run("gcc", "-g", "-O1", "-shared", "-fPIC", "-Wl,--build-id", "-o", lib, src, "-ldl")
run("objcopy", "--only-keep-debug", lib, dbg)
run("strip", "--strip-unneeded", lib)
nm = subprocess.run(["nm", lib], capture_output=True, text=True)
check("no symbols" in nm.stderr, f"the library is not stripped: {nm.stdout[:200]}")
build_id = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", lib)).group(1)
print(f"libspin.so: stripped, build id {build_id}")

with Magicd(workers=1, extra=LOAD_CONF) as srv:
    srv.stop()
    env = {"LD_PRELOAD": lib}
    if os.environ.get("MAGICD_ASAN"):
        # ASan wants its runtime first; the preloaded library is not it
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    srv.start(env=env)
    load = Load(srv, 5, connections=4).start()
    st, _, body = srv.pprof("/debug/pprof/profile?seconds=4")
    load.wait()
    check(st == 200, f"profile status {st}")

p = decode_profile(body)
maps = {m["id"]: m for m in p["mappings"]}
spin = [m for m in p["mappings"] if m["filename"] == lib]
check(len(spin) == 1, f"no mapping for {lib}: {[m['filename'] for m in p['mappings']]}")
m = spin[0]
print(f"mapping: {m}")
check(m["build_id"] == build_id, f"mapping build id {m['build_id']} != ELF note {build_id}")
for k in ("has_functions", "has_filenames", "has_line_numbers", "has_inline_frames"):
    check(not m.get(k), f"stripped mapping claims {k}")
locs = [l for l in p["locations"].values() if l.get("mapping_id") == m["id"]]
bare = [l for l in locs if not l["lines"]]
named = {p["functions"][fid]["name"] for l in locs for fid, _ in l["lines"]}
check(bare, "no address-only locations in the stripped library")
check("sqlite3_step" in named, f"the exported sqlite3_step lost its name: {named}")
check(not any("+0x" in n for n in named), f"invented names in the stripped mapping: {named}")
in_lib = sum(v[0] for v, _, ls in p["samples"]
             if ls and p["locations"][ls[0]].get("mapping_id") == m["id"])
total = sum(v[0] for v, _, _ in p["samples"])
print(f"{in_lib} of {total} samples have their leaf in libspin.so")
check(in_lib > 0.1 * total, "the library's samples are missing")

# The vDSO has a mapping, and its functions their names.
vdso = [x for x in p["mappings"] if x["filename"] == "[vdso]"]
check(len(vdso) == 1 and vdso[0].get("has_functions"), f"no [vdso] mapping: {vdso}")
for l in p["locations"].values():
    if vdso[0]["start"] <= l.get("address", 0) < vdso[0]["limit"]:
        check(l.get("mapping_id") == vdso[0]["id"], f"a vDSO location without its mapping: {l}")

# Our own file names: absolute, the same everywhere.
ours = {f["filename"] for f in p["functions"].values() if "/app/" in f["filename"] or
        "/core/" in f["filename"]}
check(ours and all(n.startswith(ROOT + "/") for n in ours),
      f"relative or inconsistent file names: {sorted(ours)[:8]}")

# go tool pprof reads it; nothing names spin_checksum without its debug file.
top = pprof_tool(["-top"], body)
check("libspin.so" in top and "spin_checksum" not in top, top[:1200])

# pprof re-symbolizes the mapping from the debug file, found by build id
# under /usr/lib/debug/.build-id (llvm-symbolizer or addr2line does the
# lookup, pprof asks it because the mapping has no functions). go tool
# pprof (Go's own object reader) does not read build ids; the standalone
# pprof, built from Debian's golang-github-google-pprof-dev, does.
pp_src = "/usr/share/gocode/src/github.com/google/pprof"
debug_dir = "/usr/lib/debug/.build-id"
installed = os.path.join(debug_dir, build_id[:2], build_id[2:] + ".debug")
if not os.path.isdir(pp_src):
    print("SKIP re-symbolization: golang-github-google-pprof-dev (the standalone pprof) "
          "is not installed")
elif os.geteuid() != 0 and not os.access(debug_dir, os.W_OK):
    print("SKIP re-symbolization: /usr/lib/debug/.build-id is not writable here (not root)")
else:
    pprof = os.path.join(tmp, "pprof")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", HOME=tmp,
               GOCACHE=os.path.join(tmp, "gocache"))
    r = subprocess.run(["go", "build", "-o", pprof, "github.com/google/pprof"], env=env,
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"building the standalone pprof: {r.stderr}")
    os.makedirs(os.path.dirname(installed), exist_ok=True)
    shutil.copy(dbg, installed)
    try:
        prof = os.path.join(tmp, "cpu.pb.gz")
        with open(prof, "wb") as f:
            f.write(body)
        rd = tempfile.mkdtemp(prefix="pprof-read-")
        penv = dict(os.environ, HOME=rd, PPROF_BINARY_PATH=rd)
        top = subprocess.run([pprof, "-top", prof], cwd=rd, env=penv, capture_output=True,
                             text=True, timeout=120).stdout
        print("\n".join(l for l in top.splitlines() if "spin" in l))
        check("spin_checksum" in top, f"pprof did not re-symbolize from {installed}: {top[:1500]}")
        lst = subprocess.run([pprof, "-list", "spin_checksum", prof], cwd=rd, env=penv,
                             capture_output=True, text=True, timeout=120).stdout
        check("SPIN LINE" in lst, f"-list spin_checksum: {lst[:1500]}")
    finally:
        os.unlink(installed)

# -list route_generate: the absolute names find the source here, and
# -trim_path + -source_path find a copy elsewhere.
lst = pprof_tool(["-list", "route_generate$"], body)
check(f"route_generate in {ROOT}/app/route_generate.c" in lst and "route_generate(" in lst,
      lst[:800])
copy = os.path.join(tmp, "src", "app")
os.makedirs(copy)
with open(os.path.join(ROOT, "app", "route_generate.c")) as f:
    text = f.read()
with open(os.path.join(copy, "route_generate.c"), "w") as f:
    f.write(text.replace("void route_generate(", "void /*COPY*/route_generate(", 1))
lst = pprof_tool(["-list", "route_generate$", "-trim_path", ROOT,
                  "-source_path", os.path.join(tmp, "src")], body)
check("/*COPY*/route_generate(" in lst, f"-trim_path/-source_path did not read the copy: "
      f"{lst[:800]}")
shutil.rmtree(tmp, ignore_errors=True)
print("ok")
