#!/usr/bin/env bash
# What `make check` shows at its end, and the tools its workflows need:
#  - the fuzz targets build with -Wall -Wextra -Werror (gcc's and clang's
#    warnings are errors everywhere else too);
#  - `make fuzz` keeps libFuzzer's own output (status lines, the
#    "Recommended dictionary" dump) in a log file and prints one summary
#    line per target and a pass/fail count as its last line;
#  - graphviz is there, so `go tool pprof -svg` (and -http's default graph
#    view) renders a profile magicd served.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang >/dev/null || { echo "skip: clang not installed"; exit 77; }
tmp=$(mktemp -d /tmp/magicd-check-output.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for f in tests/fuzz/*.c; do
    clang -std=c11 -D_GNU_SOURCE -I. -Wall -Wextra -Werror -fsyntax-only "$f" 2>"$tmp/warn" ||
        fail "$f does not build without warnings: $(cat "$tmp/warn")"
done

# The targets make check built already are reused (same BUILD); its counts
# are not make check's own (RESULTS unset). No directory lines: under make
# check-asan this make is a sub-make, which would print them.
env -u RESULTS make -s --no-print-directory fuzz FUZZ_SECONDS=1 >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make fuzz"; }
cat "$tmp/out"
! grep -q "Recommended dictionary\|^#[0-9]\|INFO: \|stat::" "$tmp/out" || fail "libFuzzer's output reaches the terminal"
ntargets=$(grep -c '^PASS fuzz' "$tmp/out")
[ "$ntargets" -ge 2 ] || fail "no fuzz target ran"
[ "$(grep -vc '^  FUZZ ' "$tmp/out")" -le $((ntargets + 1)) ] || fail "make fuzz prints more than a line per target and a summary"
tail -1 "$tmp/out" | grep -Eq '^(== )?fuzz: [0-9]+ passed, 0 failed' || fail "last line is not the summary"
ls "${BUILD:-build}"/fuzz/*.log >/dev/null || fail "no fuzz log file"

# graphviz: go tool pprof's graph views.
command -v go >/dev/null || { echo "skip: go not installed (graph check)"; exit 77; }
command -v dot >/dev/null || fail "graphviz (dot) is not installed: go tool pprof -http shows no graph"
python3 - "$tmp" <<'PY'
import os, subprocess, sys
sys.path.insert(0, "tests/integration")
from harness import Magicd, check
tmp = sys.argv[1]
with Magicd(workers=1) as srv:
    st, _, _ = srv.request("GET", "/login")
    svg = os.path.join(tmp, "heap.svg")
    env = dict(os.environ, HOME=tmp, PPROF_TMPDIR=tmp)
    r = subprocess.run(["go", "tool", "pprof", "-svg", "-output", svg,
                        f"http://127.0.0.1:{srv.pport}/debug/pprof/heap"],
                       capture_output=True, text=True, timeout=120, env=env)
    check(r.returncode == 0 and os.path.exists(svg) and "<svg" in open(svg).read(),
          f"go tool pprof -svg: {r.returncode} {r.stderr}")
print("graph ok")
PY
echo "check output ok"
