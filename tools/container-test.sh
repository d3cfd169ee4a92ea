#!/usr/bin/env bash
# container-test.sh - build the container image and prove it works under the
# original article's limits. What `make container` and `make
# container-test` run.
#
#   tools/container-test.sh base    make a local base image with debootstrap
#                                   (for hosts that cannot pull one)
#   tools/container-test.sh build   build the image (localhost/magicd)
#   tools/container-test.sh         build, then: run it with --memory=64m
#                                   --memory-swap=64m --cpus=0.5, wait for
#                                   the HEALTHCHECK to pass, sign in through
#                                   the magic-link flow, run a 10 s load test,
#                                   fetch a CPU profile from the profiler
#                                   that `go tool pprof` reads, restart to
#                                   check the key file survives, stop.
#
# Exit 77 (skip) when podman is not installed. The container uses the host's
# network (a config with free loopback ports is mounted over /etc/magicd),
# because rootful podman without a CNI/netavark setup cannot publish ports.
#
# Environment: CONTEXT (build context, default the working tree; e.g. a
# `git archive` of a commit), BASE (base image; default the local debootstrap one when it
# exists, else debian:bookworm-slim), IMAGE (default localhost/magicd),
# PODMAN (the podman command; runc and cgroupfs are chosen automatically
# where crun or systemd cgroups do not work).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v podman >/dev/null || { echo "skip: podman not installed"; exit 77; }
IMAGE=${IMAGE:-localhost/magicd}
LOCAL_BASE=localhost/debian:bookworm-slim
if [ -z "${PODMAN:-}" ]; then
    PODMAN="podman"
    command -v runc >/dev/null && PODMAN="$PODMAN --runtime runc"
    # cgroup v1/hybrid hosts: systemd's cgroup manager is not usable here.
    [ -e /sys/fs/cgroup/cgroup.controllers ] || PODMAN="$PODMAN --cgroup-manager cgroupfs"
fi
ULIMITS="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
t0=$(date +%s)
say() { printf '[%3ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

# apt_mirror DIR SUITE: the first mirror that this machine's own apt sources
# (DIR/sources.list.d/*.sources in deb822 form, then DIR/sources.list and
# DIR/sources.list.d/*.list one-line entries) use for SUITE. The base image
# comes from where the host already installs its packages; no address is
# written here, so a machine whose apt points at a local mirror or proxy
# needs no edit and one that has none fails instead of reaching elsewhere.
apt_mirror() {
    local dir=$1 suite=$2 f
    for f in "$dir"/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = uris = suites = ""; enabled = 1
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (match(line, /^[A-Za-z-]+:/)) {
                        key = tolower(substr(line, 1, RLENGTH - 1))
                        val = substr(line, RLENGTH + 1)
                        sub(/^[ \t]+/, "", val)
                        if (key == "types") types = val
                        else if (key == "uris") uris = val
                        else if (key == "suites") suites = val
                        else if (key == "enabled" && val ~ /no/) enabled = 0
                    }
                }
                if (!enabled || (" " types " ") !~ /[ \t]deb[ \t]/) next
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++)
                    if (s[j] == suite) { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f" | grep . && return 0
    done
    for f in "$dir"/sources.list "$dir"/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v suite="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f" | grep . && return 0
    done
    return 1
}

make_base() {
    command -v debootstrap >/dev/null || { echo "debootstrap not installed"; exit 1; }
    local mirror root
    mirror=$(apt_mirror /etc/apt bookworm) || {
        echo "container-test: no Debian mirror for bookworm in this machine's apt sources" \
             "(/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list): add one, or give" \
             "BASE=IMAGE of an existing base image" >&2
        exit 1
    }
    root=$(mktemp -d /tmp/magicd-rootfs.XXXXXX)
    say "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    tar -C "$root" -c . | $PODMAN import - "$LOCAL_BASE" >/dev/null
    rm -rf "$root"
    say "base image $LOCAL_BASE ready"
}

build() {
    if [ -z "${BASE:-}" ]; then
        if $PODMAN image exists "$LOCAL_BASE"; then
            BASE=$LOCAL_BASE
        elif $PODMAN image exists debian:bookworm-slim ||
             $PODMAN pull -q debian:bookworm-slim >/dev/null 2>&1; then
            BASE=debian:bookworm-slim
        else
            # No registry: make the base from Debian's packages.
            make_base
            BASE=$LOCAL_BASE
        fi
    fi
    say "building $IMAGE from $BASE"
    # --format docker keeps HEALTHCHECK (the OCI format has no field for it).
    $PODMAN build --pull=never --network=host --format docker $ULIMITS \
        --build-arg BASE="$BASE" -t "$IMAGE" -f Containerfile "${CONTEXT:-.}" >/tmp/magicd-container-build.$$ 2>&1 ||
        { tail -40 /tmp/magicd-container-build.$$; rm -f /tmp/magicd-container-build.$$; exit 1; }
    rm -f /tmp/magicd-container-build.$$
    say "built $IMAGE ($($PODMAN image inspect --format '{{.Size}}' "$IMAGE") bytes)"
}

case "${1:-test}" in
base) make_base; exit 0 ;;
build) build; exit 0 ;;
test) ;;
*) echo "usage: $0 [base|build|test]" >&2; exit 2 ;;
esac

LOADTEST=${LOADTEST_BIN:-build/loadtest}
[ -x "$LOADTEST" ] || { echo "$LOADTEST not built (run make)"; exit 1; }
command -v go >/dev/null || { echo "go not installed (golang-go)"; exit 1; }
build

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); PPORT=$(free_port)
NAME=magicd-test-$$
tmp=$(mktemp -d /tmp/magicd-ctest.XXXXXX)
cleanup() {
    $PODMAN rm -f -t 2 "$NAME" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/etc" "$tmp/state"
chown 1000:1000 "$tmp/state"
chmod 0700 "$tmp/state"
# The shipped container config with test ports, loopback only, an outbox
# to read the link from, and rate limits out of the load test's way.
sed -e "s/^listen .*/listen 127.0.0.1:$PORT;/" \
    -e "s/^profiler_listen .*/profiler_listen 127.0.0.1:$PPORT;/" \
    -e "s|^delivery .*|delivery outbox /var/lib/magicd/outbox.jsonl;|" \
    conf/container.conf > "$tmp/etc/magicd.conf"
printf 'rate_limit_ip 1000000 1m;\nrate_limit_email 1000000 1m;\n' >> "$tmp/etc/magicd.conf"

run() {
    $PODMAN run -d --name "$NAME" --network=host $ULIMITS -e MAGICD_PUBLIC_URL="http://127.0.0.1:$PORT" \
        --memory=64m --memory-swap=64m --cpus=0.5 \
        -v "$tmp/etc:/etc/magicd:ro" -v "$tmp/state:/var/lib/magicd" "$IMAGE" 2>"$tmp/run.err" >/dev/null ||
        { cat "$tmp/run.err"; exit 1; }
}

wait_healthy() {
    local i
    for i in $(seq 1 60); do
        # podman runs HEALTHCHECKs from systemd timers; without systemd we run
        # the image's check ourselves, which also records the status.
        if $PODMAN healthcheck run "$NAME" >/dev/null 2>&1; then
            say "healthy: $($PODMAN inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null ||
                            $PODMAN inspect --format '{{.State.Healthcheck.Status}}' "$NAME")"
            return 0
        fi
        [ "$($PODMAN inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
        sleep 0.5
    done
    echo "container never became healthy"; $PODMAN logs "$NAME" 2>&1 | tail -30
    exit 1
}

say "run $NAME: --memory=64m --memory-swap=64m --cpus=0.5, ports $PORT, $PPORT"
run
wait_healthy
mem=$($PODMAN inspect --format '{{.HostConfig.Memory}}' "$NAME")
cpu=$($PODMAN inspect --format '{{.HostConfig.NanoCpus}}' "$NAME")
[ "$mem" = 67108864 ] || { echo "memory limit is $mem, want 64m"; exit 1; }
[ "$cpu" = 500000000 ] || { echo "cpu limit is $cpu nanocpus, want 0.5"; exit 1; }
user=$($PODMAN exec "$NAME" id -u)
[ "$user" = 1000 ] || { echo "server runs as uid $user, want 1000"; exit 1; }
key_mode=$(stat -c %a "$tmp/state/magicd.key")
[ "$key_mode" = 600 ] || { echo "key file mode $key_mode, want 600"; exit 1; }
logs=$($PODMAN logs "$NAME" 2>&1)
grep -q "created key file" <<<"$logs" || { echo "no log line for the new key"; exit 1; }
key_sum=$(sha256sum < "$tmp/state/magicd.key")
say "uid 1000, limits 64m / 0.5 CPU, key file created (0600)"

$PODMAN exec "$NAME" /usr/sbin/magicd -c /etc/magicd/magicd.conf user add demo@example.com >/dev/null
python3 - "$PORT" "$tmp/state/outbox.jsonl" <<'PY'
import json, re, sys, time, urllib.parse
sys.path.insert(0, "tests/integration")
from harness import Browser, check
class Srv: pass
srv = Srv(); srv.port = int(sys.argv[1])
b = Browser(srv)
b.login_page()
st, _, _ = b.generate("demo@example.com")
check(st == 200, f"generate: {st}")
link = None
for _ in range(100):
    try:
        lines = open(sys.argv[2]).read().splitlines()
        if lines:
            link = json.loads(lines[-1])["link"]; break
    except FileNotFoundError:
        pass
    time.sleep(0.1)
check(link, "no link in the outbox")
path = urllib.parse.urlsplit(link).path
st, h, _ = b.req("POST", path)
check(st in (302, 303) and h.get("location", "").endswith("/secure/1"), f"verify: {st} {h}")
st, _, body = b.req("POST", "/secure/1")
check(st == 200 and b"demo@example.com" in body, f"/secure/1: {st} {body[:200]!r}")
print("login flow: link verified, /secure/1 shows demo@example.com")
PY
say "login flow ok"

say "10 s load test (100 connections) with a 5 s CPU profile during it"
curl -sS --max-time 40 -o "$tmp/cpu.pb.gz" "http://127.0.0.1:$PPORT/debug/pprof/profile?seconds=5" &
curl_pid=$!
"$LOADTEST" -q -c 100 -d 10s generate "http://127.0.0.1:$PORT/" > "$tmp/load.txt" 2>&1 ||
    { cat "$tmp/load.txt"; echo "loadtest failed"; exit 1; }
wait "$curl_pid" || { echo "profile fetch failed"; exit 1; }
grep -iE "requests|req/s|latency|status" "$tmp/load.txt" | head -8 || true
$PODMAN exec "$NAME" /usr/sbin/magicd -c /etc/magicd/magicd.conf health >/dev/null ||
    { echo "not healthy after the load test"; $PODMAN logs "$NAME" 2>&1 | tail; exit 1; }
top=$(go tool pprof -top "$tmp/cpu.pb.gz" 2>&1) || { echo "$top"; echo "pprof failed"; exit 1; }
head -12 <<<"$top"
grep -q "Type: cpu" <<<"$top" || { echo "not a CPU profile"; exit 1; }
[ -n "$(awk '/^ +[0-9.]+m?s /' <<<"$top")" ] || { echo "profile has no samples"; exit 1; }
say "CPU profile read by go tool pprof"

say "stop (SIGQUIT), start again on the same volume: the key file is kept"
$PODMAN stop -t 15 "$NAME" >/dev/null 2>&1
code=$($PODMAN inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { echo "exit code $code after stop"; $PODMAN logs "$NAME" 2>&1 | tail; exit 1; }
$PODMAN rm "$NAME" >/dev/null 2>&1
run
wait_healthy
[ "$(sha256sum < "$tmp/state/magicd.key")" = "$key_sum" ] || { echo "key file was replaced"; exit 1; }
logs=$($PODMAN logs "$NAME" 2>&1)
grep -q "created key file" <<<"$logs" && { echo "key created again"; exit 1; }
$PODMAN stop -t 15 "$NAME" >/dev/null 2>&1
say "ok: container test passed"
