#!/usr/bin/env bash
# Install the Debian packages magicd needs to build, test and benchmark,
# but only those that are missing (so `make run` on a ready machine does not
# touch apt at all). Runs apt-get through sudo when not root.
#
#   tools/deps.sh          build + test packages (graphviz: the graph views of
#                          go tool pprof -http and -svg)
#   tools/deps.sh build    only what `make` needs (libpq, hiredis: the shared
#                          store of several nodes, docs/nodes.md)
#   tools/deps.sh container   podman and what builds the base image
# postgresql and redis-server: the integration tests start throwaway servers.
set -euo pipefail

BUILD="gcc make pkg-config libssl-dev libjansson-dev libunwind-dev libdw-dev libelf-dev
       zlib1g-dev libsqlite3-dev sqlite3 libpq-dev libhiredis-dev"
TEST="curl python3 golang-go graphviz protobuf-compiler wrk nginx clang
      chromium chromium-driver python3-aiosmtpd systemd linux-perf
      golang-github-gin-gonic-gin-dev golang-github-google-pprof-dev prometheus postgresql redis-server"

CONTAINER="podman runc debootstrap"

case "${1:-all}" in
build) want="$BUILD" ;;
container) want="$CONTAINER" ;;
*) want="$BUILD $TEST" ;;
esac

missing=""
for p in $want; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
