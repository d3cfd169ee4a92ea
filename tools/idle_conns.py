#!/usr/bin/env python3
"""idle_conns - worker memory per idle keep-alive connection, magicd vs nginx.

    tools/idle_conns.py [--conns 10000] [--skip-nginx]
    tools/idle_conns.py --box [--conns 10000] [--active 500] [--seconds 10]

Default mode: starts magicd (build/magicd, 1 worker) and nginx (1 worker,
`return 200`) in temporary directories on free loopback ports, one after
the other in the same run. For each it reads the worker's anonymous RSS
(RssAnon in /proc/PID/status), opens N connections that each make one
keep-alive request (GET /healthz for magicd, GET / for nginx) and stay
open, reads RssAnon again, and prints the difference divided by N. The
clients are spread over 127.0.1.x .. 127.0.N.x, 100 connections per
address, as real clients are (so magicd's per-IP cap is not in the way).

--box: magicd alone inside `tools/constrain --memory 64m --cpus 0.5`:
opens N idle keep-alive connections, then runs wrk with --active
connections for --seconds against GET /healthz, then makes one more
request on every idle connection. Prints the box's peak memory, whether the
OOM killer struck, wrk's errors and the idle connections that failed.
Exits 1 on any OOM or error.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("MAGICD_BIN", "build/magicd")))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid, field="RssAnon"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    try:
        return [int(k) for k in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def find_worker(master, word, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        for k in children(master):
            for kk in [k] + children(k):  # constrain -> magicd master -> worker
                try:
                    t = open(f"/proc/{kk}/cmdline", "rb").read()
                except OSError:
                    continue
                if word in t:
                    return kk
        time.sleep(0.1)
    raise SystemExit(f"idle_conns: no {word.decode()} under pid {master}")


def wait_http(port, path, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                s.close()
                return
            s.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"idle_conns: nothing answers on port {port}")


def one_request(s, path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(4096)
        if not d:
            raise ConnectionError("closed")
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < n:
        d = s.recv(4096)
        if not d:
            raise ConnectionError("closed in body")
        body += d
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())


def open_idle(port, path, n):
    socks = []
    for i in range(n):
        src = f"127.0.{1 + i // 100}.{1 + i % 100}"
        s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
        one_request(s, path)
        socks.append(s)
    return socks


def magicd_conf(tmp, port, conns):
    path = os.path.join(tmp, "magicd.conf")
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
worker_connections {conns + 1000};
listen 127.0.0.1:{port};
listen_backlog 4096;
profiler_listen 127.0.0.1:{free_port()};
pid {tmp}/magicd.pid;
error_log {tmp}/error.log notice;
access_log off;
html_root {ROOT}/html;
key_file {tmp}/magicd.key;
users_db {tmp}/users.db;
public_url http://127.0.0.1:{port};
keepalive_timeout 300s;
""")
    subprocess.run([BIN, "-c", path, "keygen"], check=True, capture_output=True)
    return path


def measure(name, argv, port, path, worker_word, n, cwd=None):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    try:
        wait_http(port, path)
        w = find_worker(proc.pid, worker_word)
        time.sleep(0.5)
        before = rss_kb(w)
        t0 = time.time()
        socks = open_idle(port, path, n)
        time.sleep(1.0)
        after = rss_kb(w)
        shm = rss_kb(w, "RssShmem")
        print(f"{name:7s} worker RssAnon {before / 1024:6.1f} -> {after / 1024:6.1f} MB with "
              f"{n} idle keep-alive connections (opened in {time.time() - t0:.1f}s): "
              f"{(after - before) * 1024 / n / 1024:.2f} KB per connection"
              + (f" (RssShmem {shm / 1024:.1f} MB)" if name == "magicd" else ""))
        for s in socks:
            s.close()
        return (after - before) / n
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nginx_conf(tmp, port, conns):
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
worker_rlimit_nofile {conns * 2 + 1000};
events {{ worker_connections {conns + 1000}; }}
http {{
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/b; proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f;
    uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;
    server {{ listen 127.0.0.1:{port} backlog=4096; location / {{ return 200 "ok"; }} }}
}}
""")
    return path


def box(args, tmp):
    port = free_port()
    conf = magicd_conf(tmp, port, args.conns + args.active)
    report = os.path.join(tmp, "box.json")
    proc = subprocess.Popen([os.path.join(ROOT, "tools", "constrain"), "--memory", "64m",
                             "--cpus", "0.5", "--report", report, "--", BIN, "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/constrain.err", "w"))
    failed = 0
    try:
        wait_http(port, "/healthz")
        t0 = time.time()
        socks = open_idle(port, "/healthz", args.conns)
        print(f"{args.conns} idle keep-alive connections open in {time.time() - t0:.1f}s")
        out = subprocess.run(["wrk", "-t2", f"-c{args.active}", f"-d{args.seconds}s",
                              "--timeout", "10s", f"http://127.0.0.1:{port}/healthz"],
                             capture_output=True, text=True).stdout
        print(out.rstrip())
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out)
        werr = sum(int(x) for x in m.groups()) if m else 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        werr += int(m.group(1)) if m else 0
        for s in socks:
            try:
                one_request(s, "/healthz")
            except OSError:
                failed += 1
            s.close()
    finally:
        proc.terminate()
        proc.wait(30)
    r = json.load(open(report))
    print(f"box (64 MiB, 0.5 CPU): peak {r['peak_memory_bytes'] / 1048576:.1f} MiB, "
          f"OOM killer: {'yes' if r['oom_killed'] else 'no'}; wrk errors {werr}; "
          f"idle connections that failed their second request: {failed} of {args.conns}")
    return 1 if r["oom_killed"] or werr or failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--skip-nginx", action="store_true")
    ap.add_argument("--box", action="store_true")
    ap.add_argument("--active", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.conns + args.active + 1000
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(f"idle_conns: the fd limit {hard} is below {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    tmp = tempfile.mkdtemp(prefix="idle-conns-")
    try:
        if args.box:
            return box(args, tmp)
        port = free_port()
        conf = magicd_conf(tmp, port, args.conns)
        m = measure("magicd", [BIN, "-c", conf], port, "/healthz", b"worker process",
                    args.conns)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not args.skip_nginx and os.path.exists(nginx):
            nport = free_port()
            nc = nginx_conf(tmp, nport, args.conns)
            n = measure("nginx", [nginx, "-p", tmp, "-c", nc], nport, "/", b"nginx: worker",
                        args.conns)
            print(f"ratio magicd/nginx per idle connection: {m / n:.2f}" if n > 0 else "")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
