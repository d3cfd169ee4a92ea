#!/bin/sh
# container-entrypoint.sh - first-start setup for the magicd container.
#
# The key file must exist before magicd starts, and must never be replaced
# (a new key logs every user out and kills every link in flight). So: create
# it only when it is missing, with `magicd keygen` (mode 0600, and keygen
# itself refuses to overwrite), and say so in the log. Then exec the server,
# so it is PID 1's direct replacement and receives the container's signals.
#
# Settings that differ per deployment come from the environment and reach
# magicd as -g directives (applied after the config file, and again on
# every reload):
#   MAGICD_PUBLIC_URL           the base of magic links, e.g.
#                               https://login.example.com (required unless the
#                               config sets public_url: links are never built
#                               from the request's Host)
#   MAGICD_PROFILER_TOKEN_FILE  expose the profiler on 0.0.0.0:6060 behind a
#                               bearer token read from this file (mount it as
#                               a secret); without it the profiler stays on
#                               the container's loopback
set -eu
CONF=${MAGICD_CONF:-/etc/magicd/magicd.conf}
KEY=${MAGICD_KEY_FILE:-/var/lib/magicd/magicd.key}
if [ ! -e "$KEY" ]; then
    /usr/sbin/magicd -c "$CONF" keygen >&2
    echo "magicd-entrypoint: created key file $KEY (first start; keep this volume)" >&2
fi
G=""
if [ -n "${MAGICD_PUBLIC_URL:-}" ]; then
    G="public_url ${MAGICD_PUBLIC_URL};"
elif ! grep -qs '^[[:space:]]*public_url[[:space:]]' "$CONF"; then
    echo "magicd-entrypoint: MAGICD_PUBLIC_URL is not set and $CONF sets no public_url;" \
         "magicd will refuse to start (run with -e MAGICD_PUBLIC_URL=https://login.example.com)" >&2
fi
if [ -n "${MAGICD_PROFILER_TOKEN_FILE:-}" ]; then
    G="$G profiler_listen 0.0.0.0:6060; profiler_auth_token_file ${MAGICD_PROFILER_TOKEN_FILE};"
fi
case "${1:-}" in
*magicd)
    if [ -n "$G" ]; then
        prog=$1
        shift
        exec "$prog" -g "$G" "$@"
    fi
    ;;
esac
exec "$@"
