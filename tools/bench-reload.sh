#!/usr/bin/env bash
# bench-reload.sh - what a reload costs clients that never retry: wrk's
# keep-alive load on GET /login while the master gets HUPs, against nginx
# (`return 200`, reloaded with HUP too) in the same invocation.
#
# wrk does not retry: a keep-alive connection the server closes between two
# requests (the race every server that retires idle connections has) is a
# read error, a reset is one too. The figure is the number of socket errors
# plus non-2xx answers for each server under the same HUP schedule.
#
# Knobs: HUPS (10), DURATION (8 s), CONNS (50), WORKERS (2), MAGICD_BIN,
# NGINX. Prints a FIGURE line for tools/bench.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${MAGICD_BIN:-build/magicd}
HUPS=${HUPS:-10}
DURATION=${DURATION:-8}
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-2}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "skip: wrk is not installed"; exit 77; }
[ -x "$NGINX" ] || { echo "skip: nginx is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "bench-reload: $BIN not built (run make)"; exit 1; }

T=$(mktemp -d /tmp/magicd-reload.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; sleep 0.5; rm -rf "$T"' EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MPORT=$(port) NPORT=$(port)

cat >"$T/magicd.conf" <<CONF
worker_processes $WORKERS;
listen 127.0.0.1:$MPORT;
profiler off;
pid $T/magicd.pid;
error_log $T/error.log warn;
access_log off;
html_root $ROOT/html;
key_file $T/magicd.key;
users_db $T/users.db;
delivery log;
public_url http://127.0.0.1:$MPORT;
shutdown_timeout 5s;
CONF
"$BIN" -c "$T/magicd.conf" keygen >/dev/null
"$BIN" -c "$T/magicd.conf" >"$T/magicd.out" 2>&1 &
pids+=($!)
cat >"$T/nginx.conf" <<CONF
daemon off; master_process on; worker_processes $WORKERS;
error_log $T/nginx-error.log; pid $T/nginx.pid;
events { worker_connections 1024; }
http { access_log off;
  client_body_temp_path $T; proxy_temp_path $T; fastcgi_temp_path $T;
  uwsgi_temp_path $T; scgi_temp_path $T;
  server { listen 127.0.0.1:$NPORT; location / { return 200 "ok"; } } }
CONF
"$NGINX" -c "$T/nginx.conf" -p "$T" &
pids+=($!)
for u in "http://127.0.0.1:$MPORT/healthz" "http://127.0.0.1:$NPORT/"; do
    for _ in $(seq 100); do curl -sf -o /dev/null "$u" && break; sleep 0.1; done
done

run() { # name url masterpid -> "errors requests"
    local gap
    gap=$(awk -v d="$DURATION" -v h="$HUPS" 'BEGIN{printf "%.3f", (d - 1) / h}')
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "$2" >"$T/$1.wrk" &
    local w=$!
    sleep 0.5
    for _ in $(seq "$HUPS"); do
        kill -HUP "$3"
        sleep "$gap"
    done
    wait $w
    python3 - "$T/$1.wrk" <<'EOF'
import re, sys
w = open(sys.argv[1]).read()
e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", w)
n = int(re.search(r"(\d+) requests in", w).group(1))
print(sum(int(x) for x in e.groups()) if e else 0, int(bad.group(1)) if bad else 0, n)
EOF
}

echo "== bench-reload: wrk -t2 -c$CONNS -d${DURATION}s, $HUPS HUPs, $WORKERS workers each"
read -r me mb mn < <(run magicd "http://127.0.0.1:$MPORT/login" "$(cat "$T/magicd.pid")")
read -r ne nb nn < <(run nginx "http://127.0.0.1:$NPORT/" "$(cat "$T/nginx.pid")")
echo "  magicd GET /login:        $me socket errors, $mb non-2xx in $mn requests"
echo "  nginx  return 200:        $ne socket errors, $nb non-2xx in $nn requests"
python3 - "$me" "$mb" "$ne" "$nb" "$HUPS" <<'EOF'
import sys
me, mb, ne, nb, h = map(int, sys.argv[1:])
m, n = me + mb, ne + nb
print("errors across %d HUPs: magicd %d, nginx %d" % (h, m, n))
print("FIGURE|reload|socket errors + non-2xx in wrk -c50 across %d HUPs (fewer is better)|%d|%d|%s"
      % (h, m, n, ("%.2f" % (m / n)) if n else ("0 vs 0" if m == 0 else "inf")))
EOF
