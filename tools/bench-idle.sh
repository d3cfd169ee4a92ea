#!/usr/bin/env bash
# bench-idle.sh - worker memory per idle keep-alive connection, magicd vs
# nginx, measured by tools/idle_conns.py (both servers, same run) and turned
# into a FIGURE line for tools/bench.sh. Knob: IDLE_CONNS (10000).
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f tools/idle_conns.py ] || { echo "skip: tools/idle_conns.py is not there"; exit 77; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "skip: nginx is not installed"; exit 77; }
out=$(python3 tools/idle_conns.py --conns "${IDLE_CONNS:-10000}" 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc = 0 ] || exit $rc
printf '%s\n' "$out" | python3 -c '
import re, sys
t = sys.stdin.read()
kb = dict(re.findall(r"^(magicd|nginx)\s.*?([\d.]+) KB per connection", t, re.M))
if "magicd" in kb and "nginx" in kb and float(kb["nginx"]) > 0:
    m, n = float(kb["magicd"]), float(kb["nginx"])
    print("FIGURE|idle|worker memory per idle keep-alive connection (10,000 open)|%.2f KB|%.2f KB|%.2f" % (m, n, m / n))
'
