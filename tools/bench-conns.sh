#!/usr/bin/env bash
# Connection benchmark (part of `make bench`): worker memory per idle
# keep-alive connection, magicd against nginx in the same run, then 10,000
# idle + 500 active clients inside the article's box (64 MB, 0.5 CPU).
#
#   tools/bench-conns.sh             defaults: 10,000 idle, 500 active, 10 s
#   CONNS=10000 ACTIVE=500 DURATION=10 tools/bench-conns.sh
set -uo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench-conns: wrk is not installed (tools/deps.sh)"; exit 77; }
CONNS=${CONNS:-10000}
rc=0
python3 tools/idle_conns.py --conns "$CONNS" || rc=1
python3 tools/idle_conns.py --box --conns "$CONNS" --active "${ACTIVE:-500}" \
    --seconds "${DURATION:-10}" || rc=1
exit $rc
