#!/usr/bin/env bash
# `make run`: a working magicd in the foreground with the shipped config.
#
# It runs exactly what a user types next from the repository root,
# `build/magicd -c conf/magicd.conf ...`, with no -p: relative paths in
# conf/magicd.conf resolve against the config file's directory (conf/), so
# `make run` and every later `build/magicd -c conf/magicd.conf user list`,
# `-t` or `-s reload` find the same state in conf/run/: the key file
# (created once, never replaced), the SQLite user store with
# demo@example.com, the pid file and the access log.
# The error log goes to the terminal so `delivery log` shows each magic link.
#
# MAGICD_DIRECTIVES adds directives for this run only (e.g. another port:
# make run MAGICD_DIRECTIVES='listen 127.0.0.1:8081;').
# Links are built from public_url only, never from the request's Host; the
# shipped config's is http://127.0.0.1:8080, and MAGICD_PUBLIC_URL replaces
# it for this run (e.g. http://devbox.example:8080 when the browser is on
# another machine).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MAGICD_BIN:-build/magicd}
G="error_log stderr info; ${MAGICD_PUBLIC_URL:+public_url $MAGICD_PUBLIC_URL;} ${MAGICD_DIRECTIVES:-}"
M=("$BIN" -c conf/magicd.conf -g "$G")
# Older versions kept make run's state in ./run (with -p): carry it over
# rather than make a second key.
if [ -f run/magicd.key ] && [ ! -e conf/run/magicd.key ]; then
    mkdir -p conf/run
    mv run/* conf/run/ && rmdir run 2>/dev/null || true
    echo "make run: moved ./run (the state of an older make run) to conf/run" >&2
fi
mkdir -p conf/run
[ -f conf/run/magicd.key ] || "${M[@]}" keygen
"${M[@]}" user list 2>/dev/null | grep -q '^demo@example.com' || "${M[@]}" user add demo@example.com
"${M[@]}" -t
LISTEN=$("${M[@]}" -T 2>/dev/null | awk '/^listen /{sub(";","",$2); print $2; exit}')
PPROF=$("${M[@]}" -T 2>/dev/null | awk '/^profiler_listen /{sub(";","",$2); print $2; exit}')
cat <<MSG

  magicd is starting (Ctrl-C stops it). State: conf/run/ (key, users, pid, access log).
  Login page:  http://${LISTEN}/login      (demo user: demo@example.com)
  Profiles:    go tool pprof 'http://${PPROF}/debug/pprof/profile?seconds=30'
  Magic links are printed below ("magic link for ...") because of "delivery log".
  From another terminal: build/magicd -c conf/magicd.conf user list | -t | -s reload

MSG
exec "${M[@]}"
