#!/usr/bin/env bash
# bench-profiler.sh - what the profiler costs and how right it is.
#
# Three measurements against magicd under `loadtest generate` (a known user,
# rate limits out of the way, so every request checks CSRF, looks the user
# up, seals a token and writes the outbox):
#
# 1. CPU profile overhead: one server, alternating rounds without and with a
#    100 Hz profile?seconds=N running (off, on, on, off, ...), so drift hits
#    both. Printed: req/s and worker CPU per request, each as the median of
#    the per-round ratios. Bar: the CPU the workers spend in the SIGPROF
#    handler, which they measure themselves (thread CPU clock at entry and
#    exit, shown on the index page), is <= 2% of their CPU while profiled.
#    A CPU-bound worker loses that share of its throughput; the req/s
#    ratio says the same on a quiet machine, but phases seconds apart on a
#    shared one differ by more than 2% whatever the profiler does.
# 2. Heap sampling overhead: two servers from the same binary and config,
#    one with heap_sample_bytes 512k (the default), one with 0 (sampling
#    off), loaded in alternating rounds. Same figures; bar: the CPU spent
#    recording heap samples <= 2% of the workers' CPU.
# 4. profile_continuous on (sampling all the time at 100 Hz, the profiler
#    draining every 100 ms into its CPU history of 10-s windows): a third
#    server with it on, loaded in rounds alternating with the first one
#    (sampling off between profiles). Bar: what it costs - the workers'
#    SIGPROF handler CPU plus all of the profiler process's CPU (drain,
#    history) - <= 1% of the workers' CPU.
# 3. Accuracy against perf: `perf record -e cpu-clock -g` on the workers and
#    a profile?seconds=N over the same window. Each sample is charged to its
#    innermost user-space function (kernel time to the syscall wrapper, as
#    SIGPROF sees it; inlined code to the function it was inlined into, as
#    perf sees it: pprof -noinlines). Bar: the same top-10 functions, each
#    share within 5 points.
#
# Standalone: tools/bench-profiler.sh (after make). Knobs: SECONDS_EACH (5),
# ROUNDS (4), CONNECTIONS (32), WORKERS (1), THREADS (1), MAGICD_BIN,
# LOADTEST_BIN. Prints the figures, the ratios and the commands; exits 0
# when every bar is met, 1 otherwise, 77 when go or perf is missing (the
# overhead figures are still printed when only perf is missing).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${MAGICD_BIN:-build/magicd}")
LT=$(realpath "${LOADTEST_BIN:-build/loadtest}")
SECS=${SECONDS_EACH:-5}
ROUNDS=${ROUNDS:-4}
CONNS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-1}
[ -x "$BIN" ] && [ -x "$LT" ] || { echo "bench-profiler: build magicd and loadtest first (make)"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
# Private copies: a rebuild during the run must not change what perf and
# the profiler read.
cp "$BIN" "$tmp/magicd" && cp "$LT" "$tmp/loadtest" && BIN=$tmp/magicd && LT=$tmp/loadtest
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo demo@example.com >"$tmp/emails"

# start NAME HEAP_SAMPLE_BYTES [EXTRA] -> sets port_NAME pport_NAME, waits for /healthz
start() {
    local name=$1 heap=$2 extra=${3:-} d="$tmp/$1" port pport
    mkdir -p "$d"
    port=$(freeport); pport=$(freeport)
    cat >"$d/magicd.conf" <<EOF
worker_processes $WORKERS;
listen 127.0.0.1:$port;
profiler_listen 127.0.0.1:$pport;
pid $d/magicd.pid;
error_log $d/error.log notice;
access_log off;
html_root $PWD/html;
key_file $d/magicd.key;
users_db $d/users.db;
public_url http://127.0.0.1:$port;
delivery outbox $d/outbox.jsonl;
rate_limit_email 1000000000 1m;
rate_limit_ip 1000000000 1m;
heap_sample_bytes $heap;
$extra
EOF
    "$BIN" -c "$d/magicd.conf" keygen >/dev/null && "$BIN" -c "$d/magicd.conf" user add demo@example.com >/dev/null ||
        { echo "bench-profiler: cannot set up $name"; exit 1; }
    "$BIN" -c "$d/magicd.conf" >"$d/stdout" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && curl -sf "http://127.0.0.1:$pport/debug/pprof/" >/dev/null && break
        sleep 0.1
    done
    eval "port_$name=$port; pport_$name=$pport; master_$name=${pids[-1]}"
    sleep 0.2
    eval "workers_$name=\"$(workers_of "${pids[-1]}" | paste -sd' ')\""
    eval "profiler_$name=$(profiler_of "${pids[-1]}")"
}

profiler_of() {
    for c in $(cat /proc/"$1"/task/*/children); do
        grep -q "profiler process" /proc/"$c"/cmdline 2>/dev/null && echo "$c"
    done
}
# nanoseconds of CPU a process has run (schedstat: finer than clock ticks)
ns_of() { cut -d' ' -f1 /proc/"$1"/schedstat; }

workers_of() {
    for c in $(cat /proc/"$1"/task/*/children); do
        grep -q "worker process" /proc/"$c"/cmdline 2>/dev/null && echo "$c"
    done
}
# CPU seconds (user + system) the given pids have used
cpu_of() {
    python3 -c '
import os, sys
t = 0
for p in sys.argv[1:]:
    s = open("/proc/%s/stat" % p).read()
    f = s[s.rindex(")") + 2:].split()
    t += int(f[11]) + int(f[12])
print(t / os.sysconf("SC_CLK_TCK"))' "$@"
}

# phase NAME -> "REQ_PER_S US_CPU_PER_REQUEST CPU_SECONDS" of one loadtest phase on server NAME
phase() {
    local port pids c0 c1
    eval "port=\$port_$1"
    eval "pids=\$workers_$1"
    c0=$(cpu_of $pids)
    "$LT" -q -t "$THREADS" -c "$CONNS" -d "${SECS}s" --emails "$tmp/emails" --json "$tmp/lt.json" \
        generate "http://127.0.0.1:$port/" >/dev/null 2>&1
    c1=$(cpu_of $pids)
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
c = float(sys.argv[3]) - float(sys.argv[2])
print("%.1f %.2f %.2f" % (j["requests_per_sec"], 1e6 * c / max(1, j["requests"]), c))' \
        "$tmp/lt.json" "$c0" "$c1"
}

# sampler_us NAME FIELD -> microseconds of CPU the workers of NAME spent in
# the SIGPROF handler (FIELD 1) or recording heap samples (FIELD 2), as they
# measure it themselves (index page)
sampler_us() {
    local pp
    eval "pp=\$pport_$1"
    curl -s "http://127.0.0.1:$pp/debug/pprof/" | python3 -c '
import re, sys
f = int(sys.argv[1])
print(sum(int(m[f - 1]) for m in re.findall(r"SIGPROF handler (\d+) us, heap sampler (\d+) us", sys.stdin.read())))' "$2"
}
sum_cpu() { local t=0 x; for x in "$@"; do set -- $x; t=$(python3 -c "print(\"%.2f\" % ($t + $3))"); done; echo "$t"; }
share() { python3 -c 'import sys; print("%.3f%%" % (100 * float(sys.argv[1]) / 1e6 / max(1e-9, float(sys.argv[2]))))' "$1" "$2"; }

median() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { python3 -c 'import sys; print("%.4f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }

start on 512k
start off 0
start cont 512k "profile_continuous on;"
phase on >/dev/null # warm up: page cache, SQLite, first connections
phase off >/dev/null
phase cont >/dev/null
fail=0

# Two figures per phase: req/s, and worker CPU microseconds per request. On
# a quiet machine they are two views of one thing; on a shared one, other
# processes move req/s around by more than the 2% being measured, while the
# CPU the workers spend per request is what the profiler adds to. The bar
# is on the latter; both are printed.
report() { # TITLE BASE_NAME NEW_NAME base... -- new...
    local title=$1 bn=$2 nn=$3; shift 3
    local b=() n=() x
    while [ "$1" != -- ]; do b+=("$1"); shift; done; shift
    n=("$@")
    local br=() bc=() nr=() nc=()
    for x in "${b[@]}"; do set -- $x; br+=("$1"); bc+=("$2"); done
    for x in "${n[@]}"; do set -- $x; nr+=("$1"); nc+=("$2"); done
    local mbr mnr mbc mnc
    mbr=$(median "${br[@]}"); mnr=$(median "${nr[@]}"); mbc=$(median "${bc[@]}"); mnc=$(median "${nc[@]}")
    echo "$bn: req/s ${br[*]} (median $mbr); us CPU/request ${bc[*]} (median $mbc)"
    echo "$nn: req/s ${nr[*]} (median $mnr); us CPU/request ${nc[*]} (median $mnc)"
    # Each round's two phases ran back to back, so their ratio cancels the
    # machine's slow drift; the median of the per-round ratios is the figure.
    local thr cost
    thr=$(python3 -c 'import statistics,sys; h=len(sys.argv)//2; a=sys.argv[1:h+1]; b=sys.argv[h+1:]; print("%.4f" % statistics.median(float(y)/float(x) for x,y in zip(a,b)))' "${br[@]}" "${nr[@]}")
    cost=$(python3 -c 'import statistics,sys; h=len(sys.argv)//2; a=sys.argv[1:h+1]; b=sys.argv[h+1:]; print("%.4f" % statistics.median(float(x)/float(y) for x,y in zip(a,b)))' "${bc[@]}" "${nc[@]}")
    echo "$title: throughput ratio $thr; throughput at equal CPU (cost ratio) $cost"
}

echo "== 1. CPU profile at 100 Hz: without / with (${ROUNDS} rounds of ${SECS}s, alternating)"
h0=$(sampler_us on 1)
without=(); with=()
for r in $(seq "$ROUNDS"); do
    for ph in $( ((r % 2)) && echo "off on" || echo "on off"); do
        if [ "$ph" = on ]; then
            curl -s -o "$tmp/cpu.pprof" "http://127.0.0.1:$pport_on/debug/pprof/profile?seconds=$((SECS + 1))" &
            cp=$!
            sleep 0.3
            with+=("$(phase on)")
            wait "$cp"
        else
            without+=("$(phase on)")
        fi
    done
done
h1=$(sampler_us on 1)
report "CPU profile" "without" "with   " "${without[@]}" -- "${with[@]}"
pct=$(share $((h1 - h0)) "$(sum_cpu "${with[@]}")")
echo "SIGPROF handler CPU, measured in the workers: $((h1 - h0)) us in $(sum_cpu "${with[@]}") s of" \
     "worker CPU while profiled = $pct (bar <= 2%)"
ge 2 "${pct%\%}" || fail=1

echo "== 2. heap sampling: heap_sample_bytes 0 / 512k (${ROUNDS} rounds of ${SECS}s, alternating)"
g0=$(sampler_us on 2)
hoff=(); hon=()
for r in $(seq "$ROUNDS"); do
    for ph in $( ((r % 2)) && echo "off on" || echo "on off"); do
        if [ "$ph" = on ]; then hon+=("$(phase on)"); else hoff+=("$(phase off)"); fi
    done
done
g1=$(sampler_us on 2)
report "heap sampling" "off" "on " "${hoff[@]}" -- "${hon[@]}"
pct=$(share $((g1 - g0)) "$(sum_cpu "${hon[@]}")")
echo "heap sampler CPU, measured in the workers: $((g1 - g0)) us in $(sum_cpu "${hon[@]}") s" \
     "of worker CPU = $pct (bar <= 2%; the rest is a subtraction and a branch per malloc," \
     "the same with sampling off)"
ge 2 "${pct%\%}" || fail=1

echo "== 4. profile_continuous on with the CPU history: off / on (${ROUNDS} rounds of ${SECS}s, alternating)"
k0=$(sampler_us cont 1); p0=$(ns_of "$profiler_cont")
coff=(); con=()
for r in $(seq "$ROUNDS"); do
    for ph in $( ((r % 2)) && echo "off on" || echo "on off"); do
        if [ "$ph" = on ]; then con+=("$(phase cont)"); else coff+=("$(phase on)"); fi
    done
done
k1=$(sampler_us cont 1); p1=$(ns_of "$profiler_cont")
report "continuous" "off" "on " "${coff[@]}" -- "${con[@]}"
hist=$(curl -s "http://127.0.0.1:$pport_cont/debug/pprof/" | grep -o 'CPU history: [^.]*' | head -1)
echo "$hist"
# the profiler's CPU over the whole stretch (it also ran while the other
# server was loaded, so this overstates it) plus the handler's
pus=$(( (p1 - p0) / 1000 ))
pct=$(share $((k1 - k0 + pus)) "$(sum_cpu "${con[@]}")")
echo "continuous sampling cost: SIGPROF handler $((k1 - k0)) us + profiler process $pus us in" \
     "$(sum_cpu "${con[@]}") s of worker CPU = $pct (bar <= 1%)"
ge 1 "${pct%\%}" || fail=1

echo "== 3. accuracy against perf record -e cpu-clock -g (same ${ACCURACY_SECONDS:-10}s window)"
if ! command -v perf >/dev/null || ! command -v go >/dev/null; then
    echo "skip: perf and go tool pprof are both needed for the comparison"
    [ $fail = 0 ] && exit 77 || exit 1
fi
ASECS=${ACCURACY_SECONDS:-10}
wpids=$(echo "$workers_on" | tr ' ' ,)
"$LT" -q -t "$THREADS" -c "$CONNS" -d "$((ASECS + 3))s" --emails "$tmp/emails" generate "http://127.0.0.1:$port_on/" >/dev/null 2>&1 &
lp=$!
sleep 1
curl -s -o "$tmp/acc.pprof" "http://127.0.0.1:$pport_on/debug/pprof/profile?seconds=$ASECS" &
cp=$!
perf record -q -e cpu-clock -F 1000 -g -p "$wpids" -o "$tmp/perf.data" -- sleep "$ASECS" >/dev/null 2>&1
wait "$cp" "$lp"
(cd "$tmp" && go tool pprof -top -noinlines -nodefraction=0 -nodecount=100000 acc.pprof >"$tmp/pprof.top" 2>/dev/null) || { echo "go tool pprof cannot read the profile"; fail=1; }
perf script -i "$tmp/perf.data" -F ip,sym,dso 2>/dev/null >"$tmp/perf.script"
python3 - "$tmp/acc.pprof" "$tmp/perf.script" "$PWD/tests/integration" <<'EOF' || fail=1
import os, re, sys
from collections import Counter
sys.path.insert(0, sys.argv[3])
from profiler_util import decode_profile

def norm(name):
    # glibc names one function several ways (write, __write, __libc_write,
    # __GI___libc_write); compare them as one.
    name = name.strip()
    if re.match(r"^(0x[0-9a-f]+|\[unknown\]|\S+\.so[.\d]*\+0x[0-9a-f]+|\[\S+\.so[.\d]*\])$", name):
        return "[unknown]"  # a stripped library's internal function, both sides
    name = re.sub(r"\+0x[0-9a-f]+$", "", name)
    name = re.sub(r"^(__GI_)?_*(libc_)?_*", "", name)
    return re.sub(r"(64)?(_nocancel|_internal)?$", "", name)

# Each pprof sample is charged to its innermost user-space frame (kernel
# frames, where the workers may sample them, come first in the stack and
# are skipped, as perf's are below), to the function that frame was
# inlined into (pprof -noinlines).
prof = decode_profile(open(sys.argv[1], "rb").read())
maps = {m["id"]: m for m in prof["mappings"]}
pp = Counter()
ptotal = 0
for vals, _, locs in prof["samples"]:
    user = [l for l in locs if prof["locations"][l].get("address", 0) < 0xffff800000000000]
    if not user:
        continue
    loc = prof["locations"][user[0]]
    if loc["lines"]:
        name = prof["functions"][loc["lines"][-1][0]]["name"]
    else:
        m = maps.get(loc.get("mapping_id"))
        name = "[%s]" % os.path.basename(m["filename"]) if m else "[unknown]"
    pp[norm(name)] += vals[0]
    ptotal += vals[0]
pp = Counter({k: 100.0 * v / max(1, ptotal) for k, v in pp.items()})
perf = Counter()
total = 0
for block in open(sys.argv[2]).read().split("\n\n"):
    frames = [l.strip() for l in block.splitlines() if l.strip()]
    leaf = None
    for f in frames:
        parts = f.split(None, 1)
        if len(parts) < 2 or "[kernel" in f or "[unknown]" in f and "kernel" in f:
            continue
        sym = parts[1].rsplit(" (", 1)[0]
        leaf = sym
        break
    if leaf is None:
        continue
    total += 1
    perf[norm(leaf)] += 1
perf = Counter({k: 100.0 * v / total for k, v in perf.items()})
top_pp = [k for k, _ in pp.most_common(10)]
top_perf = [k for k, _ in perf.most_common(10)]
print(f"{'function':40s} {'pprof%':>8s} {'perf%':>8s} {'diff':>6s}")
worst = 0
for k in sorted(set(top_pp) | set(top_perf), key=lambda k: -perf.get(k, 0)):
    d = abs(pp.get(k, 0) - perf.get(k, 0))
    worst = max(worst, d)
    mark = "" if k in top_pp and k in top_perf else ("  (pprof top-10 only)" if k in top_pp else "  (perf top-10 only)")
    print(f"{k[:40]:40s} {pp.get(k, 0):8.2f} {perf.get(k, 0):8.2f} {d:6.2f}{mark}")
same = set(top_pp) == set(top_perf)
# Where the tail is flat (shares of 1% or so), which of two near-equal
# functions is 10th is chance; a function in one top-10 and not the other
# passes only if its share is within the bar in both.
print(f"perf samples: {total}; same top-10 set: {same}; largest share difference: {worst:.2f} points (bar 5)")
sys.exit(0 if worst <= 5 else 1)
EOF
echo "commands: loadtest -t $THREADS -c $CONNS -d ${SECS}s --emails FILE generate URL;" \
     "curl PPROF/debug/pprof/profile?seconds=N; perf record -e cpu-clock -F 1000 -g -p WORKERS -- sleep $SECS"
[ $fail = 0 ] && echo "bench-profiler: all bars met" || echo "bench-profiler: a bar was missed"
exit $fail
