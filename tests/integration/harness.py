"""Shared helpers for integration tests: start the real magicd and talk to it.

Every test gets a fresh temporary directory with its own config, key file,
SQLite user store (holding demo@example.com) and outbox, and free loopback
ports for the server and the profiler. Nothing here fakes the server: it is
the built binary (MAGICD_BIN), talked to over real sockets.
"""
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("MAGICD_BIN", "build/magicd")))
LOADTEST = os.path.abspath(os.path.join(ROOT, os.environ.get("LOADTEST_BIN", "build/loadtest")))
DEMO = "demo@example.com"


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_port_rng = random.Random(os.getpid() ^ time.time_ns())


def free_port():
    """A loopback port that is free now and that the kernel will not hand out.

    A port from bind(0) comes from the ephemeral range, the same range the
    kernel picks the local port of every outgoing connection from. Between
    this call and the server's bind, a browser's or a client's connection
    can take it, and the server fails with EADDRINUSE. So the port is drawn
    from below the ephemeral range, at random (two test runs at once rarely
    draw the same), and checked by binding it."""
    lo, _ = _ephemeral_range()
    if lo > 11024:
        for _ in range(200):
            p = _port_rng.randrange(10000, lo - 1)
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            finally:
                s.close()
            return p
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def skip(why):
    print("skip: " + why)
    sys.exit(77)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Magicd:
    def __init__(self, workers=2, extra="", delivery=None, profiler=True, users=(DEMO,),
                 tmp=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="magicd-test-")
        self.port = free_port()
        self.pport = free_port()
        self.workers = workers
        self.outbox = os.path.join(self.tmp, "outbox.jsonl")
        self.error_log = os.path.join(self.tmp, "error.log")
        self.access_log = os.path.join(self.tmp, "access.log")
        self.pid_file = os.path.join(self.tmp, "magicd.pid")
        self.conf = os.path.join(self.tmp, "magicd.conf")
        self.delivery = delivery or ("outbox " + self.outbox)
        self.extra = extra
        self.profiler = profiler
        self.proc = None
        self.write_conf()
        self.run_cli("keygen")
        for u in users:
            self.run_cli("user", "add", u)

    def conf_text(self, extra=None):
        return f"""
worker_processes {self.workers};
worker_connections 1024;
listen 127.0.0.1:{self.port};
profiler {'on' if self.profiler else 'off'};
profiler_listen 127.0.0.1:{self.pport};
pid {self.pid_file};
error_log {self.error_log} info;
access_log {self.access_log} combined buffer=4k flush=200ms;
html_root {ROOT}/html;
public_url http://127.0.0.1:{self.port};
key_file {self.tmp}/magicd.key;
users_db {self.tmp}/users.db;
delivery {self.delivery};
shutdown_timeout 10s;
{self.extra if extra is None else extra}
"""

    def write_conf(self, extra=None):
        with open(self.conf, "w") as f:
            f.write(self.conf_text(extra))

    def run_cli(self, *args, check_rc=True):
        r = subprocess.run([BIN, "-c", self.conf] + list(args), capture_output=True, text=True,
                           timeout=30)
        if check_rc and r.returncode != 0:
            raise AssertionError(f"magicd {' '.join(args)} failed: {r.returncode} {r.stderr}")
        return r

    def start(self, wait=True, env=None):
        """env: extra environment variables for the master (e.g. NOTIFY_SOCKET)."""
        # The master's stdout/stderr go to a file: a pipe nobody reads
        # would block the server once it filled up.
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.proc = subprocess.Popen([BIN, "-c", self.conf], stdout=open(self.stdout_path, "ab"),
                                     stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **env) if env else None)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                # __exit__ does not run when __enter__ raises: stop it here.
                sys.stderr.write("---- error log ----\n" + self.log() + "\n")
                self.proc.kill()
                self.proc.wait()
                raise
        return self

    def wait_ready(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("magicd exited: %s\n%s" % (self.proc.returncode, self.log()))
            try:
                st, _, _ = self.request("GET", "/healthz", timeout=1)
                if st == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("magicd not ready\n" + self.log())

    def log(self):
        out = ""
        for p in (self.error_log, getattr(self, "stdout_path", "")):
            try:
                with open(p, errors="replace") as f:  # a log may hold any byte
                    out += f.read()[-6000:]
            except OSError:
                pass
        return out

    def children(self):
        """Child processes of the master: list of (pid, title)."""
        out = []
        if not self.proc:
            return out
        try:
            kids = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        except OSError:
            return out
        for k in kids:
            try:
                title = open(f"/proc/{k}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            out.append((int(k), title))
        return out

    def worker_pids(self):
        return [p for p, t in self.children() if "worker process" in t and "shutting" not in t]

    def profiler_pid(self):
        for p, t in self.children():
            if "profiler process" in t:
                return p
        return None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def reload(self, timeout=20):
        """HUP the master and wait until a whole new generation of workers
        serves and none of the old one is left."""
        old = set(self.worker_pids())
        self.signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = set(self.worker_pids())
            if len(now) >= self.workers and not (now & old):
                return
            time.sleep(0.1)
        raise AssertionError("reload did not replace the workers\n" + self.log())

    def stop(self, sig=None, timeout=15):
        sig = signal.SIGTERM if sig is None else sig
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("magicd did not stop on signal %d" % sig)
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        try:
            self.stop()
        except AssertionError:
            pass
        if a[0] is not None:
            sys.stderr.write("---- error log ----\n" + self.log() + "\n")
            return
        self.check_sanitizers()

    def check_sanitizers(self):
        """Under `make check-asan` a sanitizer report in any process (a
        worker that crashed and was respawned, a leak at exit) fails the test
        even when the clients saw nothing wrong."""
        try:
            out = open(self.stdout_path, errors="replace").read()
        except (OSError, AttributeError):
            return
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in out:
                raise AssertionError("sanitizer report from magicd:\n" + out[-4000:])

    def request(self, method, path, body=None, headers=None, timeout=10, port=None):
        c = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def pprof(self, path, timeout=60):
        return self.request("GET", path, timeout=timeout, port=self.pport)

    def outbox_links(self):
        links = []
        try:
            with open(self.outbox) as f:
                for line in f:
                    e = json.loads(line)
                    if not e.get("decoy"):  # an unknown address's record: nothing to send
                        links.append(e)
        except FileNotFoundError:
            pass
        return links


class Browser:
    """A cookie-keeping HTTP client that walks the login pages like the
    page scripts do (CSRF meta tag -> X-CSRF-Token header)."""

    def __init__(self, srv):
        self.srv = srv
        self.cookies = {}
        self.csrf = None
        self.agent = None  # User-Agent to send (None: http.client's)
        self.headers = {}  # sent with every request (e.g. X-Forwarded-For)
        self.source = None  # local address to connect from (e.g. "127.0.0.7")

    def _hdrs(self, extra=None):
        h = dict(self.headers)
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.agent:
            h["User-Agent"] = self.agent
        if extra:
            h.update(extra)
        return h

    def _take_cookies(self, hdrs, raw):
        for k, v in raw:
            if k.lower() == "set-cookie":
                nv = v.split(";", 1)[0]
                name, _, val = nv.partition("=")
                if val == "" or "Max-Age=0" in v:
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = val.strip()

    def req(self, method, path, body=None, headers=None, csrf=True):
        h = self._hdrs(headers)
        if csrf and self.csrf and method == "POST":
            h.setdefault("X-CSRF-Token", self.csrf)
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10,
                                       source_address=(self.source, 0) if self.source else None)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            raw = r.getheaders()
            data = r.read()
            self._take_cookies(None, raw)
            # Like csrf.js: every page's meta tag carries the token for the
            # cookie the browser holds now (the server rotates it at sign-in).
            # (and a sign-in names the token of the fresh cookie in a header)
            m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', data)
            if m:
                self.csrf = m.group(1).decode()
            elif r.getheader("X-CSRF-Token"):
                self.csrf = r.getheader("X-CSRF-Token")
            return r.status, dict((k.lower(), v) for k, v in raw), data
        finally:
            c.close()

    def login_page(self):
        st, h, body = self.req("GET", "/login")
        check(st == 200, f"/login status {st}")
        m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
        check(m, "no csrf meta tag in /login")
        self.csrf = m.group(1).decode()
        return st, h, body

    def generate(self, email, as_json=False):
        if as_json:
            return self.req("POST", "/magic/generate", json.dumps({"email": email}),
                            {"Content-Type": "application/json"})
        return self.req("POST", "/magic/generate", "email=" + email.replace("@", "%40"),
                        {"Content-Type": "application/x-www-form-urlencoded"})
