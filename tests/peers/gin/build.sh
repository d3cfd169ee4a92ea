#!/usr/bin/env bash
# Build the Gin re-creation of the original demo (main.go beside this file)
# offline, from Debian's Go packages: golang-github-gin-gonic-gin-dev puts
# Gin and its dependencies under /usr/share/gocode/src, which GOPATH mode
# (GO111MODULE=off) builds from without a module proxy.
#
#   tests/peers/gin/build.sh OUT     writes the binary to OUT
# Exit 77 when Go or Debian's Gin is not installed (tools/deps.sh installs
# both).
set -euo pipefail
out=${1:?usage: build.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null || { echo "skip: go is not installed"; exit 77; }
[ -d /usr/share/gocode/src/github.com/gin-gonic/gin ] ||
    { echo "skip: Debian's Gin (golang-github-gin-gonic-gin-dev) is not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/gin-magic"
cp "$here/main.go" "$work/src/gin-magic/"
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$work/src/gin-magic"
GO111MODULE=off GOFLAGS= GOPATH="$work:/usr/share/gocode" GOCACHE="${GOCACHE:-$work/cache}" \
    go build -o "$out" .
