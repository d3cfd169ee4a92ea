#!/usr/bin/env bash
# bench-box.sh - the article's box, three servers side by side.
#
# The original experiment ran its Gin server in a 64 MB / 0.5 CPU container
# with GOMAXPROCS=1. This runs, one after the other in the same invocation
# and each in its own `tools/constrain --memory 64m --cpus 0.5` group:
#
#   magicd   1 worker, POST /magic/generate with a valid CSRF pair and a
#            known address, `delivery outbox` (a file in the box), no access
#            log, rate limits lifted
#   gin      tests/peers/gin (the demo re-created with Debian's Gin,
#            gin.Default()'s logger to /dev/null, GOMAXPROCS=1), the same
#            request
#   nginx    1 worker, `return 200`, GET /
#
# and drives each with the same `wrk -c CONNS` from outside the box. Rounds
# alternate (magicd, gin, nginx, magicd, ...) so a noisy neighbour hits all
# three; the figures are the medians with the spread (min-max), and the
# ratios are taken between medians of the same invocation.
#
# Knobs: ROUNDS (3), DURATION (8 s per run), CONNS (500), THREADS (2),
# MEMORY (64m), CPUS (0.5), MAGICD_BIN, NGINX. Prints one FIGURE line per
# ratio for tools/bench.sh. Exit 77 when wrk, nginx or Debian's Gin is
# missing.
set -uo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_init box
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-500}
THREADS=${THREADS:-2}
MEMORY=${MEMORY:-64m}
CPUS=${CPUS:-0.5}
GIN=build/peers/gin-magic
bench_need wrk nginx magicd
if [ ! -x "$GIN" ] || [ tests/peers/gin/main.go -nt "$GIN" ]; then
    tests/peers/gin/build.sh "$GIN" || exit $?
fi
server=""

# ---- magicd's files, made once (the port is set per run)
bench_magicd_conf "$T/magicd.conf" "$(bench_port)" "outbox $T/outbox.jsonl" "worker_connections $((CONNS + 100));"
bench_magicd_setup "$T/magicd.conf"

boxed() { # name cmd...: start cmd in its own box, in the background
    local name=$1
    shift
    tools/constrain --memory "$MEMORY" --cpus "$CPUS" --report "$T/$name.box.json" \
        --name "bench-box-$name-$$" -- "$@" >"$T/$name.out" 2>"$T/$name.box.txt" &
    server=$!
}
stop_server() {
    bench_stop "$server"
    server=""
}
trap 'stop_server; bench_cleanup' EXIT
# One run: start the server in its box, check the request, wrk, stop.
# Prints "rps p99_ms non2xx errors peak_mb".
run_one() { # magicd|gin|nginx
    local name=$1 p url lua=""
    p=$(bench_port)
    case $name in
    magicd)
        sed -i -e "s/^listen .*/listen 127.0.0.1:$p;/" -e "s|^public_url .*|public_url http://127.0.0.1:$p;|" \
            "$T/magicd.conf"
        boxed magicd "$BIN" -c "$T/magicd.conf"
        url=http://127.0.0.1:$p/magic/generate
        bench_wait_url "http://127.0.0.1:$p/healthz" || return 1
        bench_csrf "$p"
        token=$CSRF_TOKEN cookie=$CSRF_COOKIE
        lua=$T/generate.lua
        ;;
    gin)
        GOMAXPROCS=1 GIN_MODE=release boxed gin "$GIN" -listen "127.0.0.1:$p" -pprof "" \
            -static "$ROOT/html/static"
        url=http://127.0.0.1:$p/magic/generate
        bench_wait_url "http://127.0.0.1:$p/healthz" || return 1
        token=0123456789abcdef0123456789abcdef cookie=unused
        lua=$T/generate.lua
        ;;
    nginx)
        bench_nginx_conf "$T/nginx-run.conf" "$p" 1
        boxed nginx "$NGINX" -c "$T/nginx-run.conf" -p "$T"
        url=http://127.0.0.1:$p/
        bench_wait_url "$url" || return 1
        ;;
    esac
    if [ -n "$lua" ]; then
        bench_generate_lua "$lua" "$token" "$cookie"
        local code
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -b "csrf=$cookie" \
            -H "X-CSRF-Token: $token" -d "email=demo%40example.com" "$url")
        [ "$code" = 200 ] || { echo "bench-box: $name generate answered $code" >&2; stop_server; return 1; }
        wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "$url" >"$T/$name.wrk"
    else
        wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$T/$name.wrk"
    fi
    stop_server
    python3 - "$T/$name.wrk" "$T/$name.box.json" <<'EOF'
import json, re, sys
w = open(sys.argv[1]).read()
def ms(v):
    n, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
nreq = int(re.search(r"(\d+) requests in", w).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", w, re.M).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", w)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
try:
    box = json.load(open(sys.argv[2]))
    peak = box.get("peak_memory_bytes", 0) / 1048576
    oom = box.get("oom_kills", 0)
    cpu = box.get("cpu_seconds", 0)
except (OSError, ValueError):
    peak, oom, cpu = 0, 0, 0
# CPU time per request, from the box's own accounting: steadier than req/s
# on a shared machine (it does not count the time the box waited for a CPU).
us = cpu * 1e6 / nreq if nreq else 0
print("%.0f %.2f %d %d %.1f %s %.2f" % (rps, p99, int(non2xx.group(1)) if non2xx else 0,
      sum(int(x) for x in errs.groups()) if errs else 0, peak, oom, us))
EOF
}

echo "== bench-box: magicd vs Gin vs nginx, each in $MEMORY / $CPUS CPU; wrk -t$THREADS -c$CONNS -d${DURATION}s; $ROUNDS alternating rounds"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    for name in magicd gin nginx; do
        line=$(run_one $name) || { echo "bench-box: $name failed"; cat "$T/$name.box.txt" "$T/$name.out" 2>/dev/null | tail -5; exit 1; }
        echo "$name $line" >>"$T/results"
        read -r rps p99 non2xx errs peak oom us <<<"$line"
        printf '  round %d  %-7s %9.0f req/s   p99 %7.2f ms   %6.1f us CPU/req   non-2xx %s   socket errors %s   peak %s MB   oom %s\n' \
            "$r" "$name" "$rps" "$p99" "$us" "$non2xx" "$errs" "$peak" "$oom"
    done
done

python3 - "$T/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append((float(f[1]), float(f[2]), float(f[7])))
med = {k: statistics.median(r for r, _, _ in v) for k, v in runs.items()}
p99 = {k: statistics.median(p for _, p, _ in v) for k, v in runs.items()}
cpu = {k: statistics.median(u for _, _, u in v) for k, v in runs.items()}
for k, v in runs.items():
    rs = [r for r, _, _ in v]
    us = [u for _, _, u in v]
    print("%-7s median %9.0f req/s (spread %.0f-%.0f)   median p99 %.2f ms   %.1f us CPU/req (spread %.1f-%.1f)"
          % (k, med[k], min(rs), max(rs), p99[k], cpu[k], min(us), max(us)))
g = med["magicd"] / med["gin"]
n = med["magicd"] / med["nginx"]
per = lambda a, b: " ".join("%.2f" % (x[0] / y[0]) for x, y in zip(runs[a], runs[b]))
print("magicd / Gin:   %.2fx requests/s (per round %s; target >= 10); %.2fx at equal CPU"
      % (g, per("magicd", "gin"), cpu["gin"] / cpu["magicd"]))
print("magicd / nginx: %.2fx requests/s (per round %s; target >= 0.8); %.2fx at equal CPU; p99 %.2f vs %.2f ms (target <=)"
      % (n, per("magicd", "nginx"), cpu["nginx"] / cpu["magicd"], p99["magicd"], p99["nginx"]))
print("FIGURE|box-gin|generate in the 64 MB / 0.5 CPU box, magicd vs the Gin re-creation (req/s; at equal CPU)|%.0f req/s, %.1f us CPU/req|%.0f req/s, %.1f us CPU/req|%.2f (%.2f)"
      % (med["magicd"], cpu["magicd"], med["gin"], cpu["gin"], g, cpu["gin"] / cpu["magicd"]))
print("FIGURE|box-nginx|generate in the box vs nginx return 200 in the box (req/s; at equal CPU)|%.0f req/s, p99 %.1f ms|%.0f req/s, p99 %.1f ms|%.2f (%.2f)"
      % (med["magicd"], p99["magicd"], med["nginx"], p99["nginx"], n, cpu["nginx"] / cpu["magicd"]))
EOF
