#!/usr/bin/env bash
# `make run`: a working magicd in the foreground with the shipped config.
#
# Relative paths in conf/magicd.conf resolve against the repository (-p),
# so state lives in ./run: the key file (created once, never replaced), the
# SQLite user store with demo@example.com, the pid file and the access log.
# The error log goes to the terminal so `delivery log` shows each magic link.
# Links are built from public_url only (never from the request's Host), so
# this sets it to the shipped listen address; MAGICD_PUBLIC_URL overrides it
# (e.g. http://devbox.example:8080 when the browser is on another machine).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${MAGICD_BIN:-build/magicd}
G="error_log stderr info; public_url ${MAGICD_PUBLIC_URL:-http://127.0.0.1:8080};"
M=("$BIN" -p "$ROOT" -c conf/magicd.conf -g "$G")
mkdir -p run
[ -f run/magicd.key ] || "${M[@]}" keygen
"${M[@]}" user list 2>/dev/null | grep -q '^demo@example.com' || "${M[@]}" user add demo@example.com
"${M[@]}" -t
LISTEN=$("${M[@]}" -T 2>/dev/null | awk '/^listen /{sub(";","",$2); print $2; exit}')
PPROF=$("${M[@]}" -T 2>/dev/null | awk '/^profiler_listen /{sub(";","",$2); print $2; exit}')
cat <<MSG

  magicd is starting (Ctrl-C stops it).
  Login page:  http://${LISTEN}/login      (demo user: demo@example.com)
  Profiles:    go tool pprof http://${PPROF}/debug/pprof/profile?seconds=30
  Magic links are printed below ("magic link for ...") because of "delivery log".

MSG
exec "${M[@]}"
