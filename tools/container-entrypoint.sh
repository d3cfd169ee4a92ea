#!/bin/sh
# container-entrypoint.sh - first-start setup for the magicd container.
#
# The key file must exist before magicd starts, and must never be replaced
# (a new key logs every user out and kills every link in flight). So: create
# it only when it is missing, with `magicd keygen` (mode 0600, and keygen
# itself refuses to overwrite), and say so in the log. Then exec the server,
# so it is PID 1's direct replacement and receives the container's signals.
set -eu
CONF=${MAGICD_CONF:-/etc/magicd/magicd.conf}
KEY=${MAGICD_KEY_FILE:-/var/lib/magicd/magicd.key}
if [ ! -e "$KEY" ]; then
    /usr/sbin/magicd -c "$CONF" keygen >&2
    echo "magicd-entrypoint: created key file $KEY (first start; keep this volume)" >&2
fi
exec "$@"
