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
# The relay is a closed port: the mailer backs off, so what is measured is
# mostly the worker (but each time a retry is due the mailer unpacks up to
# 64 batch files, an fsync per link, and the first seconds of a run share
# the disk with that; tools/bench-spool-ab.sh counts it). A mode smtp-relay
# has the relay up instead (tools/smtp-sink.c on loopback, taking every
# mail at once): production, where the mailer sends from the batch files
# while the worker commits, its journal's syncs sharing the disk with the
# worker's. A third mode, smtp-mem,
# puts the spool on tmpfs (/dev/shm), where fdatasync costs nothing: the
# same code without the disk, i.e. what the group commit's machinery (sync
# thread, eventfd, batch files) costs by itself. With wrk's 64 connections
# the on-disk figure is bounded by 64 / (two commit latencies): on a disk
# that other jobs keep busy it is the disk that is measured. Knobs: ROUNDS (3),
# DURATION (5 s), CONNS (64), MAGICD_BIN. Prints a FIGURE line for
# tools/bench.sh.
set -uo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_init spool
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
bench_need wrk magicd "${CC:-cc}"
closed=$(bench_port)
relay=$(bench_port)
"${CC:-cc}" -O2 -o "$T/smtp-sink" tools/smtp-sink.c || exit 1
"$T/smtp-sink" -p "$relay" -t 3600 >"$T/sink.out" 2>&1 &
bench_track $!

# CPU ticks of each thread of a process: "comm ticks" lines (the worker's
# loop is "worker process"; the spool's threads are named "spool sync" and
# "spool pool").
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')"
    done 2>/dev/null
}

# "loop sync pool" microseconds of CPU per request between two snapshots.
cpu_per_req() { # before after requests
    awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
        FNR == NR { a[$1] += $2; next } { b[$1] += $2 }
        END { us = 1e6 / hz / (n > 0 ? n : 1)
              printf "%.1f %.1f %.1f", (b["worker_process"] - a["worker_process"]) * us,
                  (b["spool_sync"] - a["spool_sync"]) * us, (b["spool_pool"] - a["spool_pool"]) * us }' "$1" "$2"
}

run_one() { # smtp|outbox -> "rps p99_ms healthz_p99_ms non2xx commits cpu_loop cpu_sync cpu_pool"
    local mode=$1 p d
    p=$(bench_port)
    rm -rf "$T/run" && mkdir -p "$T/run"
    local spool=$T/run/spool
    if [ "$mode" = smtp-mem ]; then
        spool=$(mktemp -d /dev/shm/magicd-spool.XXXXXX) || return 1
    fi
    case $mode in
    outbox) d="outbox $T/run/outbox.jsonl" ;;
    smtp-relay) d="smtp 127.0.0.1:$relay" ;;
    *) d="smtp 127.0.0.1:$closed" ;;
    esac
    bench_magicd_conf "$T/run/magicd.conf" "$p" "$d" "worker_connections 1024;
smtp_spool $spool;
smtp_starttls off;"
    bench_magicd_setup "$T/run/magicd.conf"
    bench_magicd_start "$T/run/magicd.conf" "$p" || return 1
    local pid=$MAGICD_PID
    bench_csrf "$p"
    bench_generate_lua "$T/run/generate.lua" "$CSRF_TOKEN" "$CSRF_COOKIE"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -b "csrf=$CSRF_COOKIE" -H "X-CSRF-Token: $CSRF_TOKEN" \
        -d "email=demo%40example.com" "http://127.0.0.1:$p/magic/generate")
    [ "$code" = 200 ] || { echo "bench-spool: $mode generate answered $code" >&2; bench_stop "$pid"; return 1; }
    local worker
    worker=$(pgrep -P "$pid" -f "worker process" | head -1)
    wrk -t1 -c2 -d"${DURATION}s" --latency "http://127.0.0.1:$p/healthz" >"$T/run/healthz.wrk" &
    local hz=$!
    thread_ticks "$worker" >"$T/run/cpu.a"
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$T/run/generate.lua" \
        "http://127.0.0.1:$p/magic/generate" >"$T/run/gen.wrk"
    thread_ticks "$worker" >"$T/run/cpu.b"
    wait $hz
    bench_stop "$pid"
    local rps p99 hp99 bad batches reqs hreqs cpu
    read -r rps p99 bad _ reqs < <(bench_wrk_stats "$T/run/gen.wrk")
    read -r _ _ _ _ hreqs < <(bench_wrk_stats "$T/run/healthz.wrk")
    # The /healthz requests ran on the same worker: counted in, they are
    # a small share (2 connections against 64) of the cheapest route.
    cpu=$(cpu_per_req "$T/run/cpu.a" "$T/run/cpu.b" $((reqs + hreqs)))
    read -r _ hp99 _ _ _ < <(bench_wrk_stats "$T/run/healthz.wrk")
    # Commits, not files: a busy worker writes many batches into one file,
    # each ending in its "end COUNT CHECKSUM" trailer.
    batches=$(find "$spool/new" -maxdepth 1 \( -name '*b.*' -o -name '*bs.*' \) -size +0c -exec cat {} + 2>/dev/null |
        tr -d '\000' | grep -c '^end ')
    echo "$rps $p99 $hp99 $bad $batches $cpu"
    [ "$mode" = smtp-mem ] && rm -rf "$spool"
    return 0
}

echo "== bench-spool: generate, delivery smtp vs outbox, 1 worker, wrk -t1 -c$CONNS -d${DURATION}s (+ wrk -c2 on /healthz), $ROUNDS alternating rounds"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    for mode in outbox smtp smtp-relay smtp-mem; do
        line=$(run_one $mode) || { echo "bench-spool: $mode failed"; tail -5 "$T/run/error.log"; exit 1; }
        echo "$mode $line" >>"$T/results"
        read -r rps p99 hp99 bad batches cl cs cp <<<"$line"
        printf '  round %d  %-10s %9.0f req/s   p99 %7.2f ms   /healthz p99 %6.2f ms   non-2xx %s   CPU/req loop %s sync %s pool %s us%s\n' \
            "$r" "$mode" "$rps" "$p99" "$hp99" "$bad" "$cl" "$cs" "$cp" \
            "$([ "$mode" != outbox ] && echo "   commits $batches (links per fsync: $(awk -v a="$rps" -v d="$DURATION" -v b="$batches" 'BEGIN{printf "%.1f", b ? a*d/b : 0}'))")"
    done
done
python3 - "$T/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append((float(f[1]), float(f[2]), float(f[3]), float(f[6]), float(f[7]) + float(f[8])))
m = {k: statistics.median(x[0] for x in v) for k, v in runs.items()}
hp = {k: statistics.median(x[2] for x in v) for k, v in runs.items()}
per = lambda k: " ".join("%.2f" % (s[0] / o[0]) for s, o in zip(runs[k], runs["outbox"]))
ratio = m["smtp"] / m["outbox"]
for k in ("outbox", "smtp", "smtp-relay", "smtp-mem"):
    rs = [x[0] for x in runs[k]]
    print("%-10s median %9.0f req/s (spread %.0f-%.0f); /healthz p99 median %.2f ms" % (k, m[k], min(rs), max(rs), hp[k]))
print("smtp / outbox: %.2fx requests/s (per round %s; target >= 0.8)" % (ratio, per("smtp")))
print("smtp with the relay up / outbox: %.2fx (per round %s): the mailer sending while the worker commits"
      % (m["smtp-relay"] / m["outbox"], per("smtp-relay")))
print("smtp with the spool on tmpfs / outbox: %.2fx (per round %s): the group commit without the disk"
      % (m["smtp-mem"] / m["outbox"], per("smtp-mem")))
print("/healthz p99 on the same worker: %.2f ms under smtp, %.2f ms under outbox" % (hp["smtp"], hp["outbox"]))
cpu = {k: (statistics.median(x[3] for x in v), statistics.median(x[4] for x in v)) for k, v in runs.items()}
print("worker CPU per request (median): outbox %.1f us; smtp %.1f us in the loop + %.1f us in the spool's threads; "
      "smtp on tmpfs %.1f + %.1f us" % (cpu["outbox"][0], cpu["smtp"][0], cpu["smtp"][1], cpu["smtp-mem"][0], cpu["smtp-mem"][1]))
print("FIGURE|spool|generate, delivery smtp (fsynced group commit) vs delivery outbox, 1 worker, wrk -c64|%.0f req/s, /healthz p99 %.1f ms|%.0f req/s, /healthz p99 %.1f ms|%.2f"
      % (m["smtp"], hp["smtp"], m["outbox"], hp["outbox"], ratio))
print("FIGURE|spool-relay|the same with the relay up (the mailer sending from the batch files meanwhile)|%.0f req/s|%.0f req/s|%.2f"
      % (m["smtp-relay"], m["outbox"], m["smtp-relay"] / m["outbox"]))
print("FIGURE|spool-mem|the same with the spool on tmpfs (the group commit's own cost, no disk)|%.0f req/s|%.0f req/s|%.2f"
      % (m["smtp-mem"], m["outbox"], m["smtp-mem"] / m["outbox"]))
EOF
