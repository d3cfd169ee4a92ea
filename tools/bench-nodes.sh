#!/usr/bin/env bash
# The PostgreSQL store against the SQLite store: one node, the same machine,
# the same run. build/loadtest at 100 connections drives generate, then the
# whole sign-in flow (generate, verify, the secure page), on a node whose
# users_db is a SQLite file, then on the same node with a throwaway
# PostgreSQL on loopback (pg_stat_statements loaded). Prints requests/s of
# each, the ratio (target: PostgreSQL >= 0.5x SQLite per node at 100
# connections) and the statements PostgreSQL ran per generate and per
# sign-in, and FIGURE lines for tools/bench.sh. The work is in
# tools/bench_nodes.py (it starts PostgreSQL the way the tests do,
# tests/integration/services.py).
#
#   tools/bench-nodes.sh                      2 workers, 100 connections, 10 s, 2 rounds
#   WORKERS=1 CONNS=100 DURATION=10 ROUNDS=3 tools/bench-nodes.sh
# shellcheck source=tools/bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
bench_init bench-nodes
bench_need python3
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
    { echo "skip: PostgreSQL is not installed (tools/deps.sh)"; exit 77; }
[ -x build/loadtest ] || { echo "bench-nodes: build/loadtest is not built"; exit 1; }
BENCH_TMP=$T MAGICD_BIN=$BIN python3 tools/bench_nodes.py
