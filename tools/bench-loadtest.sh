#!/usr/bin/env bash
# bench-loadtest.sh - is the load generator fast and honest enough to
# measure magicd? Two checks, run against nginx's `return 200` (a server
# cheaper than magicd, so the generator is what gets measured):
#
# 1. Throughput against wrk: same threads, same connections, same duration,
#    in the same run, alternating rounds (wrk, loadtest, wrk, loadtest, ...)
#    so the machine's noise hits both. Bar: loadtest >= 0.9 x wrk req/s.
# 2. Open-loop accuracy: loadtest -R at a fixed rate below capacity (RATE,
#    default half the closed loop's mean). Bar: the achieved rate within 1%
#    of the target.
#
# Standalone: tools/bench-loadtest.sh (after make). Knobs: THREADS (1),
# CONNECTIONS (64), SECONDS_EACH (5), ROUNDS (3), NGINX_WORKERS (1), RATE,
# LOADTEST_BIN (build/loadtest). Prints the figures, the ratios and the
# commands; exits 0 when both bars are met, 1 when one is not, 77 when wrk
# or nginx is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
LT=${LOADTEST_BIN:-${BUILD:-build}/loadtest}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-64}
SECS=${SECONDS_EACH:-5}
ROUNDS=${ROUNDS:-3}
NGINX_WORKERS=${NGINX_WORKERS:-1}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

[ -x "$LT" ] || { echo "bench-loadtest: $LT not built (run make)"; exit 1; }
command -v wrk >/dev/null || { echo "skip: wrk is not installed"; exit 77; }
[ -x "$NGINX" ] || { echo "skip: nginx is not installed"; exit 77; }

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/nginx.conf" <<EOF
daemon off; master_process on; worker_processes $NGINX_WORKERS;
error_log $tmp/error.log; pid $tmp/nginx.pid;
events { worker_connections 4096; }
http { access_log off;
  client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp;
  uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  server { listen 127.0.0.1:$port; location / { return 200 "ok"; } } }
EOF
"$NGINX" -c "$tmp/nginx.conf" -p "$tmp" &
nginx_pid=$!
cleanup() {
    kill -QUIT "$nginx_pid" 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/" >/dev/null || { echo "bench-loadtest: nginx did not start"; cat "$tmp/error.log"; exit 1; }

url=http://127.0.0.1:$port/
wrk_cmd="wrk -t$THREADS -c$CONNECTIONS -d${SECS}s $url"
lt_cmd="$LT -t $THREADS -c $CONNECTIONS -d ${SECS}s -q --json $tmp/lt.json get $url"
echo "bench-loadtest: nginx return 200 ($NGINX_WORKERS worker), $THREADS thread(s), $CONNECTIONS connections, ${SECS}s x $ROUNDS rounds"
echo "  $wrk_cmd"
echo "  $lt_cmd"
# CPU time (user+sys) each tool spent per request: less sensitive to a
# shared machine's noise than requests/s.
TIMEFORMAT='%U %S'
wrk_all="" lt_all="" wrk_cpu="" lt_cpu=""
for r in $(seq "$ROUNDS"); do
    { time $wrk_cmd >"$tmp/wrk.out"; } 2>"$tmp/wrk.time"
    w=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
    wn=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
    { time $lt_cmd >/dev/null; } 2>"$tmp/lt.time"
    read -r l ln < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f %d" % (d["requests_per_sec"], d["requests"]) if d["errors"]["total"] == 0 else "0 0")' "$tmp/lt.json")
    wc=$(awk -v n="${wn:-0}" '{ printf "%.2f", (n > 0 ? ($1 + $2) * 1e6 / n : 0) }' "$tmp/wrk.time")
    lc=$(awk -v n="${ln:-0}" '{ printf "%.2f", (n > 0 ? ($1 + $2) * 1e6 / n : 0) }' "$tmp/lt.time")
    printf '  round %d: wrk %10.0f req/s (%5s us CPU/req)   loadtest %10.0f req/s (%5s us CPU/req)\n' \
        "$r" "${w:-0}" "$wc" "${l:-0}" "$lc"
    wrk_all="$wrk_all ${w:-0}" lt_all="$lt_all ${l:-0}" wrk_cpu="$wrk_cpu $wc" lt_cpu="$lt_cpu $lc"
done
cpu_ratio=$(awk -v a="$wrk_cpu" -v b="$lt_cpu" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) { s += x[i]; t += y[i] }; printf "%.2f", (t > 0 ? s / t : 0) }')
read -r wrk_mean lt_mean ratio < <(awk -v a="$wrk_all" -v b="$lt_all" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) { s += x[i]; t += y[i] }
    printf "%.0f %.0f %.3f\n", s / n, t / n, (s > 0 ? t / s : 0) }')
ok1=PASS
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.9) }' || ok1=FAIL
echo "  mean: wrk $wrk_mean req/s, loadtest $lt_mean req/s"
echo "  ratio loadtest/wrk = $ratio (bar >= 0.90): $ok1"
echo "  CPU per request: wrk/loadtest = $cpu_ratio (above 1: loadtest spends less CPU per request)"

# Open loop at half of what the closed loop reached.
rate=${RATE:-$(awk -v c="$lt_mean" 'BEGIN { r = int(c / 2 / 1000) * 1000; if (r < 1000) r = 1000; print r }')}
ol_cmd="$LT -t $THREADS -c $CONNECTIONS -d ${SECS}s -R $rate -q --json $tmp/ol.json get $url"
echo "  $ol_cmd"
$ol_cmd >/dev/null
read -r achieved p99 errs < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f %.0f %d" % (d["requests_per_sec"], d["latency_us"]["p99"], d["errors"]["total"]))' "$tmp/ol.json")
dev=$(awk -v a="$achieved" -v r="$rate" 'BEGIN { printf "%.3f", 100 * (a - r) / r }')
ok2=PASS
awk -v d="$dev" -v e="$errs" 'BEGIN { exit !(d <= 1 && d >= -1 && e == 0) }' || ok2=FAIL
echo "  open loop: target $rate req/s, achieved $achieved req/s ($dev%, p99 ${p99}us, errors $errs) (bar: within 1%): $ok2"
[ $ok1 = PASS ] && [ $ok2 = PASS ]
