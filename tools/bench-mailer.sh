#!/usr/bin/env bash
# bench-mailer.sh [BIN...] - how fast the mailer delivers: N links waiting
# in the spool's batch files, sent to a local SMTP sink (tools/smtp-sink.c,
# one epoll loop), with the spool on the disk and, as the reference, on
# tmpfs (/dev/shm: the same code without the disk). Ratio = disk / tmpfs.
#
# One run (a binary, a place for the spool):
#  1. magicd, 1 worker, rate limits lifted, `delivery smtp` to a closed
#     port, smtp_starttls off; wrk -c CONNS on POST /magic/generate until N
#     links were answered 200 (its lua script counts them; the requests
#     still in flight then add a few). The mailer finds the relay down and
#     backs off, so the links stay in the batch files the worker
#     group-committed; their ids are read from there.
#  2. The mailer is stopped (SIGSTOP), the sink starts on the relay's port,
#     then the mailer gets TERM and CONT: it exits cleanly and the master
#     starts a new one at once, which tries the relay at once (retry state
#     lives in memory). So only delivery is timed: not the back-off (1 s
#     doubling: the old mailer's next try may be seconds away), not a start
#     of magicd (a second magicd on the same spool would start a worker too,
#     whose pool zero-fills and syncs 32 batch files on the disk the
#     delivery uses). The worker stays up, idle. The STOP keeps the old
#     mailer from reaching the sink in between.
#  3. The sink times it: from its first connection to the last spooled
#     link's mail (mails/s), then waits QUIET ms more for duplicates. Every
#     link must arrive exactly once (its Message-ID is <link id@domain>): a
#     duplicate, a missing or an unknown id fails the run.
#
# Also printed per run: SMTP connections; the wait from the sink listening
# to its first connection (the mailer's restart and this script's polling);
# the new mailer's CPU per mail; how busy the sink was (its CPU over the
# delivery's time: near 100% and the sink is the bound, not the mailer; it
# costs about 100 us a mail on a 2-core VM when a client waits for each
# reply, nearly all of it the kernel's loopback, far less when pipelined);
# links still in new/ after magicd stopped ("left").
#
# magicd (so the mailer) and the sink run on one CPU (taskset): left to
# the scheduler, whether the two shared a CPU decided the figure, as each
# reply wakes the other: on a 2-core VM, one CPU gave 11,000 mails/s on
# tmpfs and two 1,750, for the same binary, and unpinned rounds spread over
# that range. On one CPU the figure is the mailer's cost plus the sink's
# (a real relay is further away: this is the mailer's own bound).
#
# A relay further away: DELAY=MS has the sink hold every reply MS ms (its
# -d: a round trip, as loopback has none), NOPIPE=1 has it not offer
# PIPELINING (its -P), NOCHUNK=1 not CHUNKING (its -C: no BDAT). Then
# round trips are the figure: a mail costs 4 when the mailer waits for
# each reply (MAIL, RCPT, DATA, the final dot), 2 pipelined (the
# envelope, then the data), so at DELAY=5 about 50 and 100 mails/s over
# one session, less for each session opened (greeting, EHLO); with BDAT
# the data needs no reply of its own: 3 and 1. Keep N small enough to
# finish within TIMEOUT: N=500 DELAY=5 PLACES=tmpfs (the disk is nothing
# next to such waits). No FIGURE line with any of the three.
#
# Several sessions: SESSIONS=K sets smtp_connections K (K mailer
# processes, one session each; they share the spool by its locks, so what
# they split is batch files: one file goes over one session). With the
# workers' group commit under wrk's full load, N links land in a handful
# of files; links that come in one at a time, as sign-ins do, get a file
# each. GAP=MS has wrk's connections wait MS ms between requests (its
# delay()), so with CONNS=1 and GAP above the commit's idle seal (5 ms)
# the links are spread over about N files:
#   N=400 DELAY=50 CONNS=1 GAP=10 PLACES=tmpfs SESSIONS=4 tools/bench-mailer.sh
#
# Rounds alternate (each binary, on disk then on tmpfs), ROUNDS times, the
# binaries in reverse order every other round: a run on the disk can pay
# for the one before it (writeback that sync does not cover, the disk's
# slow spells after thousands of flushes), so each binary follows the
# others as often. Medians with the spread. Knobs: N (5000), ROUNDS (3),
# CONNS (64, wrk's while spooling), QUIET (1000 ms), TIMEOUT (120 s a
# delivery), PLACES ("disk tmpfs": either alone, e.g. to profile the
# mailer's CPU on tmpfs), DELAY (0 ms), NOPIPE and NOCHUNK (0), see
# above, CPU (the first this script may use; "none": no pinning),
# MAGICD_BIN (the binary when none is given), CC. With one binary and
# both places it prints a FIGURE line for tools/bench.sh; with several
# binaries, each one's medians against the first's. Binaries are named
# from the repository root.
#   tools/bench-mailer.sh
#   tools/bench-mailer.sh build/magicd.old build/magicd
#   N=500 DELAY=5 PLACES=tmpfs tools/bench-mailer.sh
set -uo pipefail
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_init mailer
SHM= # a spool on tmpfs, removed at exit too
trap 'bench_cleanup; [ -z "$SHM" ] || rm -rf "$SHM"' EXIT
[ $# -gt 0 ] || set -- "$BIN"
BINS=("$@")
N=${N:-5000}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
QUIET=${QUIET:-1000}
TIMEOUT=${TIMEOUT:-120}
PLACES=${PLACES:-disk tmpfs}
DELAY=${DELAY:-0}
NOPIPE=${NOPIPE:-0}
NOCHUNK=${NOCHUNK:-0}
SESSIONS=${SESSIONS:-1}
GAP=${GAP:-0}
case $SESSIONS in '' | *[!0-9]* | 0) echo "bench-mailer: SESSIONS: 1 to 16" >&2; exit 2 ;; esac
case $GAP in '' | *[!0-9]*) echo "bench-mailer: GAP: whole milliseconds" >&2; exit 2 ;; esac
case $DELAY in '' | *[!0-9]*) echo "bench-mailer: DELAY: whole milliseconds" >&2; exit 2 ;; esac
case $NOPIPE in 0 | 1) ;; *) echo "bench-mailer: NOPIPE: 0 or 1" >&2; exit 2 ;; esac
case $NOCHUNK in 0 | 1) ;; *) echo "bench-mailer: NOCHUNK: 0 or 1" >&2; exit 2 ;; esac
SINK_OPTS=(-d "$DELAY")
[ "$NOPIPE" != 1 ] || SINK_OPTS+=(-P)
[ "$NOCHUNK" != 1 ] || SINK_OPTS+=(-C)
for m in $PLACES; do case $m in disk | tmpfs) ;; *) echo "bench-mailer: PLACES: disk, tmpfs or both" >&2; exit 2 ;; esac; done
CPU=${CPU:-$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')}
PIN=()
[ "$CPU" = none ] || PIN=(taskset -c "$CPU")
bench_need wrk "${CC:-cc}" "${PIN[@]:0:1}"
for b in "${BINS[@]}"; do BIN=$b bench_need magicd; done
"${CC:-cc}" -O2 -o "$T/smtp-sink" tools/smtp-sink.c || exit 1

# The ids of the links in a spool's new/: batch files and message files
# alike hold a line "id: HEX" per link.
spool_ids() {
    find "$1/new" -maxdepth 1 -type f -exec cat {} + 2>/dev/null | tr -d '\000' |
        sed -n 's/^id: \([0-9a-f]\{32\}\)$/\1/p' | sort
}

# One run; RESULT gets "links mails/s connections ready_to_first_ms left
# mailer_cpu_us_per_mail sink_busy_percent".
# Not in a $(...): what it starts is tracked by this shell's EXIT trap.
run_one() { # binary disk|tmpfs
    local d=$T/run spool p relay
    BIN=$1
    rm -rf "$d" && mkdir -p "$d"
    sync # the last run's writeback (its sent/, the removal of its files) is not this one's
    spool=$d/spool
    if [ "$2" = tmpfs ]; then
        SHM=$(mktemp -d /dev/shm/magicd-mailer.XXXXXX) || return 1
        spool=$SHM
    fi
    p=$(bench_port)
    relay=$(bench_port)
    bench_magicd_conf "$d/magicd.conf" "$p" "smtp 127.0.0.1:$relay" "worker_connections 1024;
smtp_spool $spool;
smtp_starttls off;$([ "$SESSIONS" = 1 ] || echo "
smtp_connections $SESSIONS;")"
    # Key and user store of this run's own: binaries of different versions
    # never share a store one of them may have migrated.
    sed -i "s|^key_file .*|key_file $d/magicd.key;|; s|^users_db .*|users_db $d/users.db;|" "$d/magicd.conf"
    bench_magicd_setup "$d/magicd.conf"
    bench_magicd_start "$d/magicd.conf" "$p" "${PIN[@]}" || return 1
    local pid=$MAGICD_PID
    bench_csrf "$p"
    bench_generate_lua "$d/gen.lua" "$CSRF_TOKEN" "$CSRF_COOKIE"
    [ "$GAP" = 0 ] || echo "function delay() return $GAP end" >>"$d/gen.lua"
    # wrk runs for its -d even once its thread has stopped: the script
    # leaves a mark after N answers, and an INT then ends wrk.
    cat >>"$d/gen.lua" <<LUA
local ok = 0
function response(status)
    if status == 200 then ok = ok + 1 end
    if ok == $N then io.open("$d/spooled.mark", "w"):close(); wrk.thread:stop() end
end
LUA
    wrk -t1 -c"$CONNS" -d60s -s "$d/gen.lua" "http://127.0.0.1:$p/magic/generate" >"$d/gen.wrk" &
    local gen=$!
    for _ in $(seq 6000); do [ -e "$d/spooled.mark" ] && break; sleep 0.01; done
    kill -INT "$gen" 2>/dev/null
    wait "$gen"
    local bad
    read -r _ _ bad _ _ < <(bench_wrk_stats "$d/gen.wrk")
    sleep 0.5 # the requests wrk left in flight are committed; their file is closed
    sync      # and nothing of the spooling is still being written back
    spool_ids "$spool" >"$d/spooled"
    local links
    links=$(wc -l <"$d/spooled")
    if [ "$bad" != 0 ] || [ "$links" -lt "$N" ] || [ "$(uniq -d "$d/spooled" | wc -l)" != 0 ]; then
        echo "bench-mailer: spooling gave $links links for $N requests, $bad non-2xx answers" >&2
        return 1
    fi
    local mailer
    mailer=$(pgrep -P "$pid" -f "mailer process")
    [ "$(echo "$mailer" | grep -c .)" = "$SESSIONS" ] ||
        { echo "bench-mailer: $(echo "$mailer" | grep -c .) mailer processes, want $SESSIONS" >&2; return 1; }
    # shellcheck disable=SC2086 # one pid a word
    kill -STOP $mailer
    "${PIN[@]}" "$T/smtp-sink" -p "$relay" -o "$d/ids" -n "$links" -q "$QUIET" -t "$TIMEOUT" "${SINK_OPTS[@]}" >"$d/sink.out" 2>&1 &
    local sink=$!
    bench_track "$sink"
    for _ in $(seq 500); do grep -q "^listening" "$d/sink.out" && break; sleep 0.01; done
    # shellcheck disable=SC2086
    kill -TERM $mailer
    # shellcheck disable=SC2086
    kill -CONT $mailer
    wait "$sink"
    local rc=$? ns
    # The new mailers' CPU: all of it went to this delivery. Their time on
    # a CPU in ns (schedstat), not stat's 10 ms ticks, which round a
    # mailer that sent a few tens of mails to nothing.
    ns=$(for m in $(pgrep -P "$pid" -f "mailer process"); do cat "/proc/$m/schedstat"; done 2>/dev/null |
        awk '{t += $1} END {printf "%.0f", t}')
    bench_stop "$pid"
    BENCH_PIDS=() # both stopped: never signal their pids again
    local out
    out=$(tail -1 "$d/sink.out")
    [ "$rc" = 0 ] || { echo "bench-mailer: sink: $(cat "$d/sink.out")" >&2; return 1; }
    sed 's/^<\([0-9a-f]\{32\}\)@.*>$/\1/' "$d/ids" | sort >"$d/received"
    local dup missing unknown left
    dup=$(uniq -d "$d/received" | wc -l)
    missing=$(uniq "$d/received" | comm -23 "$d/spooled" - | wc -l)
    unknown=$(uniq "$d/received" | comm -13 "$d/spooled" - | wc -l)
    left=$(spool_ids "$spool" | wc -l)
    [ -z "$SHM" ] || rm -rf "$SHM"
    SHM=
    if [ "$dup" != 0 ] || [ "$missing" != 0 ] || [ "$unknown" != 0 ]; then
        echo "bench-mailer: $links links spooled, $(wc -l <"$d/received") mails: $dup links twice or more," \
            "$missing never, $unknown unknown ids" >&2
        return 1
    fi
    # messages M connections C ready_to_first_ms A first_to_count_ms B first_to_last_ms L cpu_ms U
    read -r _ _ _ conns _ gap _ took _ last _ cpu <<<"$out"
    RESULT=$(awk -v n="$links" -v t="$took" -v c="$conns" -v g="$gap" -v l="$left" -v last="$last" \
        -v cpu="$cpu" -v mns="${ns:-0}" 'BEGIN {
            printf "%d %.0f %d %.1f %d %.0f %.0f", n, (t > 0 ? n * 1000 / t : 0), c, g, l,
                mns / 1000 / n, (last > 0 ? cpu * 100 / last : 0) }')
}

echo "== bench-mailer: $N links from batch files to a local SMTP sink, spool on $PLACES, 1 worker, mailer and sink on CPU $CPU, $ROUNDS alternating rounds, sink replies after $DELAY ms, $SESSIONS SMTP session(s), wrk -c$CONNS$([ "$GAP" = 0 ] || echo " with $GAP ms between requests"), $([ "$NOPIPE" = 1 ] && echo "no PIPELINING" || echo "PIPELINING offered"), $([ "$NOCHUNK" = 1 ] && echo "no CHUNKING" || echo "CHUNKING offered")"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    order=$(seq 0 $((${#BINS[@]} - 1)))
    [ $((r % 2)) = 1 ] || order=$(seq $((${#BINS[@]} - 1)) -1 0) # ABBA
    for k in $order; do
        for mode in $PLACES; do
            run_one "${BINS[$k]}" "$mode" || { echo "bench-mailer: ${BINS[$k]} $mode failed"; tail -5 "$T/error.log"; exit 1; }
            echo "$k $mode $RESULT" >>"$T/results"
            read -r links rate conns gap left cpu busy <<<"$RESULT"
            printf '  round %d  %-24s %-5s %5d links %7.0f mails/s  %4d connections  first after %5.1f ms  mailer CPU %4d us/mail  sink busy %2d%%  left %d\n' \
                "$r" "${BINS[$k]}" "$mode" "$links" "$rate" "$conns" "$gap" "$cpu" "$busy" "$left"
        done
    done
done
python3 - "$T/results" "$N" "$DELAY $NOPIPE $NOCHUNK" "${BINS[@]}" <<'EOF'
import statistics, sys
res, n, far, bins = sys.argv[1], sys.argv[2], sys.argv[3] != "0 0 0", sys.argv[4:]
runs = {}
for line in open(res):
    f = line.split()
    runs.setdefault((int(f[0]), f[1]), []).append(float(f[3]))
places = [m for m in ("disk", "tmpfs") if (0, m) in runs]
med = lambda k, m: statistics.median(runs[(k, m)])
both = len(places) == 2
for k, b in enumerate(bins):
    for m in places:
        v = runs[(k, m)]
        print("%-28s %-5s median %7.0f mails/s (spread %.0f-%.0f)" % (b, m, med(k, m), min(v), max(v)))
    if both:
        per = " ".join("%.2f" % (a / t) for a, t in zip(runs[(k, "disk")], runs[(k, "tmpfs")]))
        print("%-28s disk / tmpfs: %.2f (per round %s)" % (b, med(k, "disk") / med(k, "tmpfs"), per))
for k, b in list(enumerate(bins))[1:]:
    print("%s / %s: %s" % (b, bins[0], ", ".join("%s %.2fx" % (m, med(k, m) / med(0, m)) for m in places)))
if len(bins) == 1 and both and not far:
    print("FIGURE|mailer|mailer delivery, %s links from batch files to a local SMTP sink, spool on disk vs on tmpfs"
          "|%.0f mails/s|%.0f mails/s on tmpfs|%.2f" % (n, med(0, "disk"), med(0, "tmpfs"),
                                                       med(0, "disk") / med(0, "tmpfs")))
EOF
