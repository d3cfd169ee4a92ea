#!/usr/bin/env bash
# test_systemd_unit.sh - conf/magicd.service is a unit systemd accepts, and it
# says what the deployment needs (Type=notify, config test before start,
# HUP reload, graceful QUIT stop, hardening).
#
# `systemd-analyze verify` checks the syntax, every directive and that the
# executables exist, so the unit is copied with its binary path pointed at a
# copy of the built magicd in a temporary directory.
set -u
cd "$(dirname "$0")/../.."
command -v systemd-analyze >/dev/null || { echo "skip: systemd-analyze not installed"; exit 77; }
BIN=${MAGICD_BIN:-build/magicd}
[ -x "$BIN" ] || { echo "skip: $BIN not built"; exit 77; }

tmp=$(mktemp -d /tmp/magicd-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/sbin"
cp "$BIN" "$tmp/sbin/magicd"
sed "s|/usr/local/sbin/magicd|$tmp/sbin/magicd|g" conf/magicd.service > "$tmp/magicd.service"

fail=0
out=$(systemd-analyze verify --man=no "$tmp/magicd.service" 2>&1)
rc=$?
# Only complaints about our unit count; the host's own units may be noisy.
ours=$(printf '%s\n' "$out" | grep -F "magicd.service" || true)
if [ $rc != 0 ] || [ -n "$ours" ]; then
    echo "systemd-analyze verify failed (rc=$rc):"
    printf '%s\n' "$out"
    fail=1
fi

need() {
    grep -Eq "^$1\$" conf/magicd.service || { echo "unit lacks: $1"; fail=1; }
}
need 'Type=notify'
need 'ExecStartPre=/usr/local/sbin/magicd -t .*'
need 'ExecReload=/usr/local/sbin/magicd -t .*'
need 'ExecReload=/bin/kill -HUP \$MAINPID'
# The config test runs before the HUP, so `systemctl reload` fails on a bad
# file and says why (with the HUP alone it reported success, and only the
# error log said the master had refused the file).
t=$(grep -n '^ExecReload=/usr/local/sbin/magicd -t ' conf/magicd.service | cut -d: -f1)
k=$(grep -n '^ExecReload=/bin/kill -HUP' conf/magicd.service | cut -d: -f1)
[ -n "$t" ] && [ -n "$k" ] && [ "$t" -lt "$k" ] || { echo "ExecReload: -t must come before the HUP"; fail=1; }
need 'KillSignal=SIGQUIT'
need 'TimeoutStopSec=[0-9]+s?'
need 'Restart=on-failure'
need 'User=magicd'
need 'StateDirectory=magicd'
need 'LogsDirectory=magicd'
need 'RuntimeDirectory=magicd'
need 'NoNewPrivileges=yes'
need 'ProtectSystem=strict'
need 'ProtectHome=yes'
need 'PrivateTmp=yes'
need 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'
need 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'
need 'SystemCallFilter=@system-service'
need 'WatchdogSec=[0-9]+s?'

# A deliberately broken copy must be rejected, or this test proves nothing.
sed 's/^Type=notify/Type=notifyy/' "$tmp/magicd.service" > "$tmp/broken.service"
bad=$(systemd-analyze verify --man=no "$tmp/broken.service" 2>&1)
if ! printf '%s\n' "$bad" | grep -q "broken.service"; then
    echo "systemd-analyze did not notice a broken unit:"
    printf '%s\n' "$bad"
    fail=1
fi
[ $fail = 0 ] && echo "ok: systemd-analyze verify accepts conf/magicd.service"
exit $fail
