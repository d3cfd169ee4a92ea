#!/usr/bin/env bash
# bench-spool-ab.sh BIN... - `delivery smtp` on generate, binaries side by
# side: one magicd per binary (1 worker, the spool on the disk, a closed
# relay port), all started at once, then short wrk -c64 runs against each
# in turn, N times, so every binary meets the same neighbours and the same
# state of the disk. For telling two versions of the group commit apart on
# a shared machine, where tools/bench-spool.sh's separate invocations
# differ by more than the change being measured.
#
# WARM seconds of load on each first: right after start the mailer still
# unpacks batch files (one fsync per link) until its first attempt on the
# closed relay fails and it backs off, which costs the workers' commits
# the disk; the printed count of message files shows how much it did.
# Knobs: N (6 rounds), D (3 s a run), WARM (0 s), CONNS (64).
#   tools/bench-spool-ab.sh build/magicd.old build/magicd
set -uo pipefail
. "$(dirname "$0")/bench-lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 BIN..." >&2; exit 2; }
BINS=("$@")
bench_init spool-ab
N=${N:-6}
D=${D:-3}
WARM=${WARM:-0}
CONNS=${CONNS:-64}
bench_need wrk
closed=$(bench_port)

start() { # index binary
    local d=$T/s$1 p
    p=$(bench_port)
    mkdir -p "$d"
    BIN=$2
    [ -x "$BIN" ] || { echo "bench-spool-ab: $BIN is not an executable" >&2; exit 1; }
    bench_magicd_conf "$d/magicd.conf" "$p" "smtp 127.0.0.1:$closed" "worker_connections 1024;
smtp_spool $d/spool;
smtp_starttls off;"
    sed -i "s|^pid .*|pid $d/magicd.pid;|; s|^error_log .*|error_log $d/error.log warn;|" "$d/magicd.conf"
    bench_magicd_setup "$d/magicd.conf"
    bench_magicd_start "$d/magicd.conf" "$p" || exit 1
    bench_csrf "$p"
    bench_generate_lua "$d/gen.lua" "$CSRF_TOKEN" "$CSRF_COOKIE"
    PORTS[$1]=$p
}

PORTS=()
for k in "${!BINS[@]}"; do start "$k" "${BINS[$k]}"; done
run() { # index seconds -> req/s
    wrk -t1 -c"$CONNS" -d"$2s" -s "$T/s$1/gen.lua" "http://127.0.0.1:${PORTS[$1]}/magic/generate" |
        awk '/Requests\/sec/{print $2}'
}
echo "== bench-spool-ab: generate, delivery smtp, 1 worker each, wrk -t1 -c$CONNS -d${D}s, $N rounds (warm-up ${WARM}s each)"
if [ "$WARM" != 0 ]; then for k in "${!BINS[@]}"; do run "$k" "$WARM" >/dev/null; done; fi
: >"$T/results"
for i in $(seq "$N"); do
    for k in "${!BINS[@]}"; do
        r=$(run "$k" "$D")
        printf '  round %d  %-40s %9.0f req/s\n' "$i" "${BINS[$k]}" "$r"
        echo "$k $r" >>"$T/results"
    done
done
for k in "${!BINS[@]}"; do
    msgs=$(find "$T/s$k/spool/new" -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{32}' | wc -l)
    python3 - "$T/results" "$k" "${BINS[$k]}" "$msgs" <<'EOF'
import statistics, sys
v = [float(l.split()[1]) for l in open(sys.argv[1]) if l.split()[0] == sys.argv[2]]
print("%-40s mean %9.0f req/s, median %9.0f (%d runs); links the mailer unpacked meanwhile: %s"
      % (sys.argv[3], statistics.mean(v), statistics.median(v), len(v), sys.argv[4]))
EOF
done
