#!/usr/bin/env bash
# tools/constrain really limits: a program that allocates past the memory
# limit is killed by the OOM killer and the summary says so; one that stays
# under it runs to the end with its peak reported below the limit; a busy
# loop gets no more CPU than the quota. Skipped (77) on a host where no
# cgroup mechanism is usable (no root, nothing delegated, no systemd).
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

tools/constrain --memory 32m -- true 2>"$tmp/probe"
if [ $? = 125 ]; then
    cat "$tmp/probe"
    echo "skip: $(tail -1 "$tmp/probe")"
    exit 77
fi

# 1. Allocating (and touching) 256 MiB under 32 MiB: OOM-killed, reported.
tools/constrain --memory 32m --cpus 1 --report "$tmp/oom.json" -- \
    python3 -c 'b = bytearray(256 << 20); print("survived")' >"$tmp/oom.out" 2>"$tmp/oom.err"
rc=$?
cat "$tmp/oom.err"
[ $rc = 137 ] || fail "over-limit program exited $rc, expected 137 (SIGKILL)"
grep -q survived "$tmp/oom.out" && fail "over-limit program was not stopped"
grep -q "OOM killer: yes" "$tmp/oom.err" || fail "summary does not report the OOM kill"
[ "$(field "$tmp/oom.json" oom_killed)" = True ] || fail "report: oom_killed is not true"
peak=$(field "$tmp/oom.json" peak_memory_bytes)
[ "$peak" -le $((32 << 20)) ] || fail "peak $peak above the 32 MiB limit"

# 2. 8 MiB under 32 MiB: runs to the end, peak between 8 MiB and the limit.
tools/constrain --memory 32m --report "$tmp/ok.json" -- \
    python3 -c 'b = bytearray(8 << 20); print("done")' >"$tmp/ok.out" 2>"$tmp/ok.err"
rc=$?
cat "$tmp/ok.err"
[ $rc = 0 ] || fail "under-limit program exited $rc"
grep -q done "$tmp/ok.out" || fail "under-limit program did not finish"
grep -q "OOM killer: no" "$tmp/ok.err" || fail "summary reports an OOM kill that did not happen"
peak=$(field "$tmp/ok.json" peak_memory_bytes)
[ "$peak" -ge $((8 << 20)) ] && [ "$peak" -le $((32 << 20)) ] || fail "peak $peak not in [8 MiB, 32 MiB]"

# 3. A 2-second busy loop under 0.25 CPU gets about a quarter of a CPU.
tools/constrain --memory 64m --cpus 0.25 --report "$tmp/cpu.json" -- \
    python3 -c '
import time
t = time.time()
while time.time() - t < 2:
    pass' 2>"$tmp/cpu.err"
cat "$tmp/cpu.err"
cpu=$(field "$tmp/cpu.json" cpu_seconds)
wall=$(field "$tmp/cpu.json" wall_seconds)
awk -v c="$cpu" -v w="$wall" 'BEGIN { exit !(c > 0.2 && c / w < 0.35) }' ||
    fail "busy loop used $cpu s CPU in $wall s under a 0.25 CPU quota"

# 4. The exit status is the command's.
tools/constrain -- sh -c 'exit 7' 2>/dev/null
[ $? = 7 ] || fail "exit status not passed through"
echo "ok: OOM kill detected, peak reported, CPU quota enforced ($cpu s in $wall s)"
