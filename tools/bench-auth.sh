#!/usr/bin/env bash
# GET /auth benchmark: the endpoint nginx's auth_request calls before every
# request to a protected application, with a real signed-in session (made
# through the pages: login, generate, the link from the outbox, verify),
# against nginx `return 200` with the same worker count, in the same run.
# Prints requests/s per worker, p99 and the ratios (target: >= 0.8x nginx's
# requests/s, p99 <= nginx's). Two rounds by default, since neighbours on a
# shared machine move absolute figures.
#
#   tools/bench-auth.sh            defaults: 2 workers, 100 connections, 10 s, 2 rounds
#   WORKERS=1 CONNS=100 DURATION=10 THREADS=2 ROUNDS=3 tools/bench-auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MAGICD_BIN:-build/magicd}
WORKERS=${WORKERS:-2}
CONNS=${CONNS:-100}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
command -v wrk >/dev/null || { echo "bench-auth: wrk is not installed (tools/deps.sh)"; exit 77; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench-auth: nginx is not installed (tools/deps.sh)"; exit 77; }

T=$(mktemp -d /tmp/magicd-bench-auth.XXXXXX)
cleanup() {
    [ -f "$T/magicd.pid" ] && kill "$(cat "$T/magicd.pid")" 2>/dev/null || true
    [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MPORT=$(port); NPORT=$(port); PPORT=$(port)

cat > "$T/magicd.conf" <<CONF
worker_processes $WORKERS;
listen 127.0.0.1:$MPORT;
profiler_listen 127.0.0.1:$PPORT;
public_url http://127.0.0.1:$MPORT;
pid $T/magicd.pid;
error_log $T/error.log warn;
access_log off;
html_root $PWD/html;
key_file $T/magicd.key;
users_db $T/users.db;
delivery outbox $T/outbox.jsonl;
CONF
"$BIN" -c "$T/magicd.conf" keygen >/dev/null
"$BIN" -c "$T/magicd.conf" user add demo@example.com --group admins >/dev/null
"$BIN" -c "$T/magicd.conf" &
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$MPORT/healthz" >/dev/null && break; sleep 0.1; done

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
cat > "$T/auth.lua" <<LUA
wrk.headers["Cookie"] = "session=$SESSION"
LUA

cat > "$T/nginx.conf" <<CONF
daemon on; master_process on; worker_processes $WORKERS;
error_log $T/nginx-error.log; pid $T/nginx.pid;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$NPORT; location / { return 200 "ok"; } } }
CONF
"$NGINX" -c "$T/nginx.conf" -p "$T"
sleep 0.5

wrk_run() { # name url [script]
    local out
    if [ -n "${3:-}" ]; then
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$3" "$2")
    else
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$2")
    fi
    local rps p99 non2xx
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec/{print $2}')
    p99=$(printf '%s\n' "$out" | awk '$1=="99%"{print $2}')
    non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/{print $NF}')
    printf '%-34s %10s req/s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p99" "${non2xx:-0}" >&2
    [ -z "${non2xx:-}" ] || { echo "bench-auth: $1 answered non-2xx" >&2; exit 1; }
    echo "$rps $p99"
}
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub("us","",v); print v/1000} else if (v ~ /ms$/) {sub("ms","",v); print v} else {sub("s","",v); print v*1000} }'; }

echo "== /auth benchmark: $WORKERS workers, $CONNS connections, $THREADS wrk threads, ${DURATION}s each, $ROUNDS rounds" >&2
for r in $(seq "$ROUNDS"); do
    read -r N_RPS N_P99 < <(wrk_run "nginx return 200" "http://127.0.0.1:$NPORT/")
    read -r A_RPS A_P99 < <(wrk_run "magicd GET /auth?group=admins" "$base/auth?group=admins" "$T/auth.lua")
    RATIO=$(awk -v a="$A_RPS" -v b="$N_RPS" 'BEGIN{printf "%.2f", a/b}')
    PER=$(awk -v a="$A_RPS" -v w="$WORKERS" 'BEGIN{printf "%.0f", a/w}')
    NPER=$(awk -v a="$N_RPS" -v w="$WORKERS" 'BEGIN{printf "%.0f", a/w}')
    echo "round $r: /auth vs nginx return 200: ${RATIO}x requests/s ($PER vs $NPER per worker; target >= 0.8)," \
        "p99 $(to_ms "$A_P99") ms vs $(to_ms "$N_P99") ms (target <=)"
done
