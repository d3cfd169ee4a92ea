#!/usr/bin/env bash
# tools/container-test.sh builds its base image from the Debian mirror this
# machine's apt already uses, and from nowhere else: apt_mirror reads deb822
# *.sources stanzas (Types deb, the exact suite, Enabled: no skipped), then
# one-line sources.list entries ([options] allowed), and finds nothing when
# no source serves the suite. The function is taken from the script itself
# and run on fixture apt directories; the script must name no mirror host.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/magicd-mirror.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

sed -n '/^apt_mirror() {/,/^}/p' tools/container-test.sh >"$tmp/fn.sh"
[ -s "$tmp/fn.sh" ] || fail "no apt_mirror function in tools/container-test.sh"
# shellcheck disable=SC1091
source "$tmp/fn.sh"
! grep -Eq 'https?://[a-z0-9.-]+\.(org|com|net)' tools/container-test.sh ||
    fail "container-test.sh names a mirror address: $(grep -Eo 'https?://[a-z0-9.-]+\.(org|com|net)[^ ]*' tools/container-test.sh | head -1)"

mk() { mkdir -p "$tmp/$1/sources.list.d"; }
mk a
cat >"$tmp/a/sources.list.d/debian.sources" <<'S'
Types: deb
URIs: http://security.mirror.test/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.mirror.test/debian
Suites: bookworm

Types: deb
URIs: http://off.mirror.test/debian
Suites: bookworm
Enabled: no

# a comment stanza line
Types: deb deb-src
URIs:   http://main.mirror.test/debian http://second.mirror.test/debian
Suites: bookworm bookworm-updates
Components: main
S
[ "$(apt_mirror "$tmp/a" bookworm)" = http://main.mirror.test/debian ] ||
    fail "deb822: got '$(apt_mirror "$tmp/a" bookworm || true)'"

mk b
printf '# old style\ndeb-src http://src.mirror.test/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://list.mirror.test/debian bookworm main\n' \
    >"$tmp/b/sources.list"
[ "$(apt_mirror "$tmp/b" bookworm)" = http://list.mirror.test/debian ] ||
    fail "sources.list: got '$(apt_mirror "$tmp/b" bookworm || true)'"

mk c
printf 'deb http://other.mirror.test/debian trixie main\n' >"$tmp/c/sources.list"
if out=$(apt_mirror "$tmp/c" bookworm); then fail "no bookworm source, yet found '$out'"; fi
mk d
if out=$(apt_mirror "$tmp/d" bookworm); then fail "empty apt dir, yet found '$out'"; fi

# This machine's own sources, when it is a bookworm machine.
if grep -qs 'bookworm' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; then
    m=$(apt_mirror /etc/apt bookworm) || fail "this machine's apt sources give no mirror"
    echo "this machine: $m"
fi
echo "container mirror ok"
