# bench-lib.sh - what the benchmarks in tools/bench-*.sh share: sourced,
# never run. Each benchmark used to start magicd, nginx and wrk its own
# way; these are the one way.
#
#   bench_init NAME        cd to the repository root, set ROOT, BIN (from
#                          MAGICD_BIN), T (a fresh temporary directory) and
#                          the EXIT trap that stops what was started and
#                          removes T
#   bench_need TOOL...     exit 77 (tools/bench.sh: skipped) when a tool is
#                          missing; "nginx" finds /usr/sbin/nginx too and
#                          sets NGINX
#   bench_port             a free loopback port
#   bench_track PID        stop PID (TERM, then wait) at exit
#   bench_stop PID         stop it now
#   bench_wait_url URL     until it answers 2xx (10 s), else 1
#   bench_magicd_conf FILE PORT DELIVERY [DIRECTIVES]
#                          a config with what every benchmark wants: one
#                          listener, no profiler, errors at warn, no access
#                          log, keys and users under T, rate limits lifted;
#                          DIRECTIVES (one per line) are appended and win
#   bench_magicd_setup CONF [USER ARGS...]
#                          key file and a user (demo@example.com by default)
#   bench_magicd_start CONF PORT [CMD PREFIX...]
#                          start the master (under the prefix, e.g. taskset
#                          or tools/constrain), wait for /healthz; the pid
#                          is in MAGICD_PID
#   bench_csrf PORT        a browser's CSRF pair from GET /login: sets
#                          CSRF_TOKEN and CSRF_COOKIE
#   bench_generate_lua FILE TOKEN COOKIE
#                          wrk script for POST /magic/generate as that browser
#   bench_nginx_conf FILE PORT WORKERS [daemon on|off]
#                          nginx `return 200`, temp paths under T
#   bench_wrk_stats FILE   "rps p99_ms non2xx socket_errors requests" of a
#                          `wrk --latency` output
#   bench_to_ms VALUE      wrk's "1.23ms" / "850.00us" / "1.20s" in ms
#
# Only pids this script started are ever signalled (never by name).

bench_init() {
    cd "$(dirname "${BASH_SOURCE[1]}")/.." || exit 1
    ROOT=$(pwd)
    BIN=${MAGICD_BIN:-build/magicd}
    T=$(mktemp -d "/tmp/magicd-$1.XXXXXX")
    BENCH_PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do bench_stop "$p"; done
    rm -rf "$T"
}

bench_need() {
    local t
    for t in "$@"; do
        case $t in
        nginx)
            NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
            [ -x "$NGINX" ] || { echo "skip: nginx is not installed (tools/deps.sh)"; exit 77; }
            ;;
        magicd)
            [ -x "$BIN" ] || { echo "$(basename "$0"): $BIN not built (run make)"; exit 1; }
            ;;
        *) command -v "$t" >/dev/null || { echo "skip: $t is not installed (tools/deps.sh)"; exit 77; } ;;
        esac
    done
}

bench_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

bench_track() { BENCH_PIDS+=("$1"); }

bench_stop() {
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    wait "$1" 2>/dev/null || true
    return 0
}

bench_wait_url() {
    for _ in $(seq 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): $1 did not come up" >&2
    return 1
}

bench_magicd_conf() { # file port delivery [directives]
    cat >"$1" <<CONF
worker_processes 1;
listen 127.0.0.1:$2;
public_url http://127.0.0.1:$2;
profiler off;
pid $T/magicd.pid;
error_log $T/error.log warn;
access_log off;
html_root $ROOT/html;
key_file $T/magicd.key;
users_db $T/users.db;
delivery $3;
rate_limit_email 1000000000 1s;
rate_limit_ip 1000000000 1s;
shutdown_timeout 2s;
CONF
    [ -z "${4:-}" ] || printf '%s\n' "$4" >>"$1"
}

bench_magicd_setup() { # conf [user add args]
    local conf=$1
    shift
    [ -f "$T/magicd.key" ] || "$BIN" -c "$conf" keygen >/dev/null
    [ $# -gt 0 ] || set -- demo@example.com
    "$BIN" -c "$conf" user add "$@" >/dev/null 2>&1 || true
}

bench_magicd_start() { # conf port [prefix...]
    local conf=$1 port=$2
    shift 2
    "$@" "$BIN" -c "$conf" >>"$T/magicd.out" 2>&1 &
    MAGICD_PID=$!
    bench_track "$MAGICD_PID"
    bench_wait_url "http://127.0.0.1:$port/healthz"
}

bench_csrf() { # port
    local page
    page=$(curl -s -c "$T/cookies" "http://127.0.0.1:$1/login")
    CSRF_TOKEN=$(printf '%s' "$page" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
    CSRF_COOKIE=$(awk '$6=="csrf"{print $7}' "$T/cookies")
}

bench_generate_lua() { # file token cookie
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = "email=demo%40example.com"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-CSRF-Token"] = "$2"
wrk.headers["Cookie"] = "csrf=$3"
LUA
}

bench_nginx_conf() { # file port workers [daemon]
    cat >"$1" <<CONF
daemon ${4:-off}; master_process on; worker_processes $3;
error_log $T/nginx-error.log; pid $T/nginx.pid;
events { worker_connections 2048; }
http { access_log off;
  client_body_temp_path $T; proxy_temp_path $T; fastcgi_temp_path $T;
  uwsgi_temp_path $T; scgi_temp_path $T;
  server { listen 127.0.0.1:$2; location / { return 200 "ok"; } } }
CONF
}

bench_wrk_stats() { # wrk output file
    python3 - "$1" <<'EOF'
import re, sys
w = open(sys.argv[1]).read()
def ms(v):
    n, u = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
p99 = re.search(r"^\s+99%\s+(\S+)", w, re.M)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", w)
err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
n = re.search(r"(\d+) requests in", w)
print("%.0f %.2f %d %d %d" % (rps, ms(p99.group(1)) if p99 else 0, int(bad.group(1)) if bad else 0,
      sum(int(x) for x in err.groups()) if err else 0, int(n.group(1)) if n else 0))
EOF
}

bench_to_ms() {
    awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub("us","",v); print v/1000} else if (v ~ /ms$/) {sub("ms","",v); print v} else {sub("s","",v); print v*1000} }'
}
