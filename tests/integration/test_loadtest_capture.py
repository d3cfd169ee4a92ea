"""tools/capture-profiles against magicd's profiler while loadtest drives the
server: every profile of the article's capture arrives, `go tool pprof` reads
each one, and the summary names CPU functions and heap figures. Then `make
loadtest` itself (tools/experiment.sh), shortened: it must print its report
and meet its bar (zero errors, no OOM kill) with 100 clients in 64 MB
(512 MB for a sanitizer build)."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, LOADTEST, ROOT, Magicd, check, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")
if not shutil.which("go"):
    skip("go is not installed (golang-go): profiles cannot be checked")

PROFILES = ["cpu.pprof", "block.pprof", "mutex.pprof", "heap-delta.pprof", "goroutine.pprof",
            "goroutine.txt", "heap.pprof", "heap-gc.pprof"]


def capture():
    with Magicd(workers=1, extra="rate_limit_ip 1000000000 1m;\n") as srv:
        load = subprocess.Popen([LOADTEST, "-c", "20", "-t", "1", "-d", "5s", "-q", "original",
                                 f"http://127.0.0.1:{srv.port}/"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = tempfile.mkdtemp(prefix="capture-")
        r = subprocess.run([os.path.join(ROOT, "tools", "capture-profiles"),
                            f"http://127.0.0.1:{srv.pport}", "2", out],
                           capture_output=True, text=True, timeout=120)
        print(r.stdout, r.stderr)
        load.communicate(timeout=60)
        check(r.returncode == 0, f"capture-profiles exit {r.returncode}")
        for f in PROFILES:
            p = os.path.join(out, f)
            check(os.path.exists(p) and os.path.getsize(p) > 0, f"{f} missing or empty")
        check("top CPU functions" in r.stdout and "in use now" in r.stdout,
              "summary lacks the CPU and heap sections")
        env = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "summary.env")) if "=" in l)
        check(float(env.get("CPU_SECONDS", 0)) > 0, f"no CPU samples under load: {env}")
        check(int(env.get("GOROUTINES", 0)) >= 1, f"goroutine count: {env}")


def experiment():
    probe = subprocess.run([os.path.join(ROOT, "tools", "constrain"), "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode == 125:
        print("experiment part skipped: " + probe.stderr.strip())
        return
    out = tempfile.mkdtemp(prefix="experiment-")
    # A sanitizer build keeps shadow memory and quarantines frees: the 64 MB
    # bar is for the production build.
    memory = "512m" if os.environ.get("MAGICD_ASAN") else "64m"
    env = dict(os.environ, DURATION="6", CONNECTIONS="100", PROFILE_SECONDS="2", OUT=out,
               MEMORY=memory, MAGICD_BIN=BIN, LOADTEST_BIN=LOADTEST)
    r = subprocess.run([os.path.join(ROOT, "tools", "experiment.sh")], capture_output=True,
                       text=True, timeout=120, env=env)
    print(r.stdout[-4000:], r.stderr[-2000:])
    check(r.returncode == 0, f"experiment exit {r.returncode}")
    for line in ("requests ", "latency ", "memory ", "cpu ", "allocs ", "verdict    PASS"):
        check(line in r.stdout, f"experiment report lacks {line!r}")
    check(os.path.exists(os.path.join(out, "profiles", "cpu.pprof")), "experiment kept no profile")


def main():
    capture()
    experiment()
    print("ok")


if __name__ == "__main__":
    main()
