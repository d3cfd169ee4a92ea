"""Real nginx in front of magicd and a small upstream application, for the
tests that drive the shipped conf/nginx-auth-request.conf.

Front(srv) starts, in srv's temporary directory and on free loopback ports:
the upstream (echo_app.py, a python http.server that answers with the
headers it received, one JSON line per request in app.jsonl) and nginx
running the shipped server block with this test's ports substituted,
wrapped in a main config with `daemon off`, its own pid file, error log and
temp paths (no root needed). magicd itself is the caller's (its config must
set public_url to Front.base_url, which is known before nginx starts:
Front.port is chosen at construction).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

from harness import ROOT, check, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = os.path.join(ROOT, "conf", "nginx-auth-request.conf")
HERE = os.path.dirname(os.path.abspath(__file__))


def available():
    """Why nginx cannot run here, or None when it can."""
    if not os.access(NGINX, os.X_OK):
        return "nginx is not installed (Debian package nginx)"
    return None


def wait_port(port, proc, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} not listening on {port}")


def nginx_conf(tmp, nport, mport, aport):
    """The shipped example with these ports, inside a main config."""
    text = open(EXAMPLE).read()
    for old, new in (("127.0.0.1:8080", f"127.0.0.1:{mport}"),
                     ("127.0.0.1:3000", f"127.0.0.1:{aport}"),
                     ("listen 80;", f"listen 127.0.0.1:{nport};")):
        check(old in text, f"{EXAMPLE} no longer contains {old!r}: update nginx_front.py")
        text = text.replace(old, new)
    temps = "".join(f"    {k}_temp_path {tmp}/{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/nginx-error.log info;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {tmp}/nginx-access.log;\n{temps}{text}\n}}\n")


class Front:
    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.app_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.app_log = os.path.join(tmp, "app.jsonl")
        self.app = self.nginx = None

    def start(self, magicd_port):
        self.app = subprocess.Popen([sys.executable, os.path.join(HERE, "echo_app.py"),
                                     str(self.app_port), self.app_log])
        try:
            wait_port(self.app_port, self.app, "the upstream application")
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_conf(self.tmp, self.port, magicd_port, self.app_port))
            r = subprocess.run([NGINX, "-t", "-c", conf, "-p", self.tmp], capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 0, f"nginx -t refuses the example: {r.stderr}")
            self.nginx = subprocess.Popen([NGINX, "-c", conf, "-p", self.tmp],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            wait_port(self.port, self.nginx, "nginx")
        except BaseException:
            self.stop()
            raise
        return self

    def app_requests(self):
        try:
            with open(self.app_log) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def error_log(self):
        try:
            return open(os.path.join(self.tmp, "nginx-error.log")).read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        for p in (self.nginx, self.app):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
