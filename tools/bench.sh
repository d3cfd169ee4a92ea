#!/usr/bin/env bash
# `make bench`: every benchmark in tools/bench-*.sh, one after another.
# Each prints ratios against a reference measured in the same run (nginx,
# wrk, perf), because the machines are shared and absolute figures drift.
# BENCH=core selects tools/bench-core.sh only.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh >/dev/null
rc=0
for b in tools/bench-*.sh; do
    case "$(basename "$b")" in *${BENCH:-}*) ;; *) continue ;; esac
    echo
    echo "######## $b"
    bash "$b"
    case $? in
    0) ;;
    77) echo "$b skipped (a tool it needs is missing)" ;;
    *) echo "$b failed"; rc=1 ;;
    esac
done
exit $rc
