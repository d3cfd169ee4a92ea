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
. "$(dirname "$0")/bench-lib.sh"
bench_init reload
HUPS=${HUPS:-10}
DURATION=${DURATION:-8}
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-2}
bench_need wrk nginx magicd
MPORT=$(bench_port) NPORT=$(bench_port)

bench_magicd_conf "$T/magicd.conf" "$MPORT" log "worker_processes $WORKERS;
shutdown_timeout 5s;"
bench_magicd_setup "$T/magicd.conf"
bench_magicd_start "$T/magicd.conf" "$MPORT" || exit 1
bench_nginx_conf "$T/nginx.conf" "$NPORT" "$WORKERS"
"$NGINX" -c "$T/nginx.conf" -p "$T" >"$T/nginx.out" 2>&1 &
bench_track $!
bench_wait_url "http://127.0.0.1:$NPORT/" || exit 1

run() { # name url masterpid -> "errors requests"
    local gap
    gap=$(awk -v d="$DURATION" -v h="$HUPS" 'BEGIN{printf "%.3f", (d - 1) / h}')
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$2" >"$T/$1.wrk" &
    local w=$!
    sleep 0.5
    for _ in $(seq "$HUPS"); do
        kill -HUP "$3"
        sleep "$gap"
    done
    wait $w
    local bad errs n
    read -r _ _ bad errs n < <(bench_wrk_stats "$T/$1.wrk")
    echo "$errs $bad $n"
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
