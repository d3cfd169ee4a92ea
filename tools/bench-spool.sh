#!/usr/bin/env bash
# bench-spool.sh - what durable delivery costs: POST /magic/generate with
# `delivery smtp` (every link group-committed to the spool and fsynced
# before its 200) against `delivery outbox` (one write(2), no fsync), one
# worker, the same wrk, in the same invocation, rounds alternating.
#
# While each generate run goes, a second wrk (2 connections) asks the same
# worker for GET /healthz: its p99 under smtp vs under outbox shows whether
# the disk's latency leaks into other routes (it must not: the sync runs on
# the worker's sync thread, not in its loop).
#
# The relay is a closed port: the mailer backs off and leaves the batch
# files alone, so what is measured is the worker. A third mode, smtp-mem,
# puts the spool on tmpfs (/dev/shm), where fdatasync costs nothing: the
# same code without the disk, i.e. what the group commit's machinery (sync
# thread, eventfd, batch files) costs by itself. With wrk's 64 connections
# the on-disk figure is bounded by 64 / (two commit latencies): on a disk
# that other jobs keep busy it is the disk that is measured. Knobs: ROUNDS (3),
# DURATION (5 s), CONNS (64), MAGICD_BIN. Prints a FIGURE line for
# tools/bench.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${MAGICD_BIN:-build/magicd}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "skip: wrk is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "bench-spool: $BIN not built (run make)"; exit 1; }

T=$(mktemp -d /tmp/magicd-spool.XXXXXX)
pid=""
stop() {
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null
    pid=""
}
trap 'stop; rm -rf "$T"' EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
closed=$(port)

run_one() { # smtp|outbox -> "rps p99_ms healthz_p99_ms"
    local mode=$1 p d
    p=$(port)
    rm -rf "$T/run" && mkdir -p "$T/run"
    local spool=$T/run/spool
    if [ "$mode" = smtp-mem ]; then
        spool=$(mktemp -d /dev/shm/magicd-spool.XXXXXX) || return 1
    fi
    if [ "$mode" = outbox ]; then d="outbox $T/run/outbox.jsonl"; else d="smtp 127.0.0.1:$closed"; fi
    cat >"$T/run/magicd.conf" <<CONF
worker_processes 1;
worker_connections 1024;
listen 127.0.0.1:$p;
public_url http://127.0.0.1:$p;
profiler off;
pid $T/run/magicd.pid;
error_log $T/run/error.log warn;
access_log off;
html_root $ROOT/html;
key_file $T/magicd.key;
users_db $T/users.db;
delivery $d;
smtp_spool $spool;
smtp_starttls off;
rate_limit_email 1000000000 1s;
rate_limit_ip 1000000000 1s;
shutdown_timeout 2s;
CONF
    [ -f "$T/magicd.key" ] || "$BIN" -c "$T/run/magicd.conf" keygen >/dev/null
    "$BIN" -c "$T/run/magicd.conf" user add demo@example.com >/dev/null 2>&1
    "$BIN" -c "$T/run/magicd.conf" >"$T/run/out.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$p/healthz" && break; sleep 0.1; done
    local page token cookie
    page=$(curl -s -c "$T/run/cookies" "http://127.0.0.1:$p/login")
    token=$(printf '%s' "$page" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
    cookie=$(awk '$6=="csrf"{print $7}' "$T/run/cookies")
    cat >"$T/run/generate.lua" <<LUA
wrk.method = "POST"
wrk.body = "email=demo%40example.com"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-CSRF-Token"] = "$token"
wrk.headers["Cookie"] = "csrf=$cookie"
LUA
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -b "csrf=$cookie" -H "X-CSRF-Token: $token" \
        -d "email=demo%40example.com" "http://127.0.0.1:$p/magic/generate")
    [ "$code" = 200 ] || { echo "bench-spool: $mode generate answered $code" >&2; stop; return 1; }
    wrk -t1 -c2 -d"${DURATION}s" --latency "http://127.0.0.1:$p/healthz" >"$T/run/healthz.wrk" &
    local hz=$!
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$T/run/generate.lua" \
        "http://127.0.0.1:$p/magic/generate" >"$T/run/gen.wrk"
    wait $hz
    stop
    python3 - "$T/run/gen.wrk" "$T/run/healthz.wrk" "$spool" <<'EOF'
import os, re, sys
def ms(v):
    n, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[u]
g, h = open(sys.argv[1]).read(), open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", g).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", g, re.M).group(1))
hp99 = ms(re.search(r"^\s+99%\s+(\S+)", h, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", g)
try:
    d = os.path.join(sys.argv[3], "new")
    batches = len([n for n in os.listdir(d) if n.lstrip(".").startswith("b.")
                   and os.path.getsize(os.path.join(d, n)) > 0])
except OSError:
    batches = 0
print("%.0f %.2f %.2f %d %d" % (rps, p99, hp99, int(bad.group(1)) if bad else 0, batches))
EOF
    [ "$mode" = smtp-mem ] && rm -rf "$spool"
    return 0
}

echo "== bench-spool: generate, delivery smtp vs outbox, 1 worker, wrk -t1 -c$CONNS -d${DURATION}s (+ wrk -c2 on /healthz), $ROUNDS alternating rounds"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    for mode in outbox smtp smtp-mem; do
        line=$(run_one $mode) || { echo "bench-spool: $mode failed"; tail -5 "$T/run/error.log"; exit 1; }
        echo "$mode $line" >>"$T/results"
        read -r rps p99 hp99 bad batches <<<"$line"
        printf '  round %d  %-8s %9.0f req/s   p99 %7.2f ms   /healthz p99 %6.2f ms   non-2xx %s%s\n' \
            "$r" "$mode" "$rps" "$p99" "$hp99" "$bad" \
            "$([ "$mode" != outbox ] && echo "   batch files $batches (links per fsync: $(awk -v a="$rps" -v d="$DURATION" -v b="$batches" 'BEGIN{printf "%.1f", b ? a*d/b : 0}'))")"
    done
done
python3 - "$T/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append((float(f[1]), float(f[2]), float(f[3])))
m = {k: statistics.median(x[0] for x in v) for k, v in runs.items()}
hp = {k: statistics.median(x[2] for x in v) for k, v in runs.items()}
per = lambda k: " ".join("%.2f" % (s[0] / o[0]) for s, o in zip(runs[k], runs["outbox"]))
ratio = m["smtp"] / m["outbox"]
for k in ("outbox", "smtp", "smtp-mem"):
    rs = [x[0] for x in runs[k]]
    print("%-8s median %9.0f req/s (spread %.0f-%.0f); /healthz p99 median %.2f ms" % (k, m[k], min(rs), max(rs), hp[k]))
print("smtp / outbox: %.2fx requests/s (per round %s; target >= 0.8)" % (ratio, per("smtp")))
print("smtp with the spool on tmpfs / outbox: %.2fx (per round %s): the group commit without the disk"
      % (m["smtp-mem"] / m["outbox"], per("smtp-mem")))
print("/healthz p99 on the same worker: %.2f ms under smtp, %.2f ms under outbox" % (hp["smtp"], hp["outbox"]))
print("FIGURE|spool|generate, delivery smtp (fsynced group commit) vs delivery outbox, 1 worker, wrk -c64|%.0f req/s, /healthz p99 %.1f ms|%.0f req/s, /healthz p99 %.1f ms|%.2f"
      % (m["smtp"], hp["smtp"], m["outbox"], hp["outbox"], ratio))
print("FIGURE|spool-mem|the same with the spool on tmpfs (the group commit's own cost, no disk)|%.0f req/s|%.0f req/s|%.2f"
      % (m["smtp-mem"], m["outbox"], m["smtp-mem"] / m["outbox"]))
EOF
