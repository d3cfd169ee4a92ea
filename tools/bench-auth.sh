#!/usr/bin/env bash
# GET /auth benchmark: the endpoint nginx's auth_request calls before every
# request to a protected application, with a real signed-in session (made
# through the pages: login, generate, the link from the outbox, verify),
# against nginx `return 200`, in the same run.
#
# One magicd worker against one nginx worker (`worker_processes 1`), both
# pinned to one core (SERVER_CPU, 0) and wrk (one thread) pinned to another
# (WRK_CPU, 1) with taskset, so the load generator never takes CPU from the
# server it measures and the two servers get the same core. Rounds
# alternate nginx, magicd, nginx, ... so a neighbour's burst hits both;
# the figures are the medians, with every round printed (target: >= 0.8x
# nginx's requests/s, p99 <= nginx's). Without taskset or a second core the
# same runs go unpinned, and the output says so.
#
#   tools/bench-auth.sh      defaults: 100 connections, 10 s, 3 rounds
#   CONNS=100 DURATION=10 ROUNDS=3 SERVER_CPU=0 WRK_CPU=1 tools/bench-auth.sh
# Prints FIGURE lines for tools/bench.sh.
set -uo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_init bench-auth
CONNS=${CONNS:-100}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
bench_need wrk nginx magicd

pin_server=() pin_wrk=() pinned="unpinned (taskset missing or one core)"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c "$SERVER_CPU") pin_wrk=(taskset -c "$WRK_CPU")
    pinned="servers on CPU $SERVER_CPU, wrk on CPU $WRK_CPU"
fi

MPORT=$(bench_port) NPORT=$(bench_port)
bench_magicd_conf "$T/magicd.conf" "$MPORT" "outbox $T/outbox.jsonl"
bench_magicd_setup "$T/magicd.conf" demo@example.com --group admins
bench_magicd_start "$T/magicd.conf" "$MPORT" "${pin_server[@]}" || exit 1

# Sign in the way a browser does, keeping cookies in a jar.
J="$T/cookies"
base="http://127.0.0.1:$MPORT"
token() { sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p'; }
TOKEN=$(curl -s -c "$J" -b "$J" "$base/login" | token)
curl -s -o /dev/null -c "$J" -b "$J" -H "X-CSRF-Token: $TOKEN" \
    -d "email=demo%40example.com" "$base/magic/generate"
LINK=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["link"])' "$T/outbox.jsonl")
TOKEN=$(curl -s -c "$J" -b "$J" "$LINK" | token)
curl -s -o /dev/null -c "$J" -b "$J" -X POST -H "X-CSRF-Token: $TOKEN" "$LINK"
SESSION=$(awk '$6=="session"{print $7}' "$J")
[ -n "$SESSION" ] || { echo "bench-auth: sign-in failed"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -b "session=$SESSION" "$base/auth?group=admins")
[ "$code" = 200 ] || { echo "bench-auth: /auth answered $code"; exit 1; }
printf 'wrk.headers["Cookie"] = "session=%s"\n' "$SESSION" >"$T/auth.lua"

bench_nginx_conf "$T/nginx.conf" "$NPORT" 1
"${pin_server[@]}" "$NGINX" -c "$T/nginx.conf" -p "$T" >"$T/nginx.out" 2>&1 &
bench_track $!
bench_wait_url "http://127.0.0.1:$NPORT/" || exit 1

wrk_run() { # name url [script] -> "rps p99_ms"
    local s=()
    [ -z "${3:-}" ] || s=(-s "$3")
    "${pin_wrk[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${s[@]}" "$2" >"$T/$1.wrk"
    local rps p99 bad errs
    read -r rps p99 bad errs _ < <(bench_wrk_stats "$T/$1.wrk")
    [ "$bad" = 0 ] || { echo "bench-auth: $1 answered $bad non-2xx" >&2; return 1; }
    echo "$rps $p99 $errs"
}

echo "== /auth benchmark: 1 magicd worker vs 1 nginx worker, $pinned; wrk -t1 -c$CONNS -d${DURATION}s; $ROUNDS alternating rounds"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    read -r n_rps n_p99 n_err < <(wrk_run nginx "http://127.0.0.1:$NPORT/") || exit 1
    read -r a_rps a_p99 a_err < <(wrk_run auth "$base/auth?group=admins" "$T/auth.lua") || exit 1
    echo "$n_rps $n_p99 $a_rps $a_p99" >>"$T/results"
    printf '  round %d  nginx return 200 %8s req/s  p99 %7s ms   magicd GET /auth %8s req/s  p99 %7s ms   ratio %s  socket errors %s/%s\n' \
        "$r" "$n_rps" "$n_p99" "$a_rps" "$a_p99" \
        "$(awk -v a="$a_rps" -v b="$n_rps" 'BEGIN{printf "%.2f", a/b}')" "$n_err" "$a_err"
done
python3 - "$T/results" "$pinned" "$CONNS" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, np99, a, ap99 = (statistics.median(r[i] for r in rows) for i in range(4))
per = " ".join("%.2f" % (r[2] / r[0]) for r in rows)
print("nginx  median %.0f req/s (spread %.0f-%.0f), p99 median %.2f ms (spread %.2f-%.2f)"
      % (n, min(r[0] for r in rows), max(r[0] for r in rows), np99, min(r[1] for r in rows), max(r[1] for r in rows)))
print("/auth  median %.0f req/s (spread %.0f-%.0f), p99 median %.2f ms (spread %.2f-%.2f)"
      % (a, min(r[2] for r in rows), max(r[2] for r in rows), ap99, min(r[3] for r in rows), max(r[3] for r in rows)))
print("/auth vs nginx return 200, 1 worker each: %.2fx requests/s (per round %s; target >= 0.8), p99 %.2f vs %.2f ms (target <=)"
      % (a / n, per, ap99, np99))
# A neighbour's burst moves both servers' figures round by round; the
# ratio inside each round (the two runs seconds apart) moves less.
pr = [r[3] / r[1] for r in rows]
print("p99 /auth / nginx, per round: %s; median %.2f (target <= 1); /auth's p99 at or below nginx's in %d of %d rounds"
      % (" ".join("%.2f" % x for x in pr), statistics.median(pr), sum(x <= 1 for x in pr), len(pr)))
print("FIGURE|auth|GET /auth vs nginx return 200, 1 worker each (%s), wrk -t1 -c%s|%.0f req/s, p99 %.2f ms|%.0f req/s, p99 %.2f ms|%.2f"
      % (sys.argv[2], sys.argv[3], a, ap99, n, np99, a / n))
EOF
