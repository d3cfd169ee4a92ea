#!/usr/bin/env bash
# `make bench`: every benchmark in tools/bench-*.sh, one after another.
# Each prints ratios against a reference measured in the same run (nginx,
# Gin, wrk, perf), because the machines are shared and absolute figures
# drift. BENCH=core selects tools/bench-core.sh only; BENCH="spool box"
# selects several.
#
# A benchmark that has a headline figure prints it as one line
#   FIGURE|key|what is measured|magicd|reference|ratio
# and this script collects them: the output of each benchmark goes to
# build/bench/NAME.txt, the figures to build/bench/figures.txt, and at the
# end one table of them all is printed (tools/bench_table.py). With
# BENCH_DOCS=1 (`make bench-docs`) the table in docs/results.md is replaced
# by this run's.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh >/dev/null
out=${BENCH_OUT:-build/bench}
mkdir -p "$out"
: >"$out/figures.txt"
rc=0
for b in tools/bench-*.sh; do
    name=$(basename "$b" .sh)
    case "$name" in
    bench-lib) continue ;;      # sourced by the others
    bench-spool-ab) continue ;; # a side-by-side tool: it needs the binaries to compare
    esac
    if [ -n "${BENCH:-}" ]; then
        hit=0
        for w in $BENCH; do case "$name" in *"$w"*) hit=1 ;; esac; done
        [ $hit = 1 ] || continue
    fi
    echo
    echo "######## $b"
    bash "$b" 2>&1 | tee "$out/$name.txt"
    st=${PIPESTATUS[0]}
    case $st in
    0) ;;
    77) echo "$b skipped (a tool it needs is missing)" ;;
    *) echo "$b failed"; rc=1 ;;
    esac
    grep '^FIGURE|' "$out/$name.txt" >>"$out/figures.txt"
done
echo
echo "######## figures of this run ($(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 tools/bench_table.py "$out/figures.txt"
if [ -n "${BENCH_DOCS:-}" ]; then
    for f in docs/results.md README.md; do
        python3 tools/bench_table.py --write "$f" "$out/figures.txt" && echo "$f: table regenerated"
    done
fi
exit $rc
