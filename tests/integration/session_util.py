"""Helpers for the session, CSRF and /auth tests: sign a browser in, hold
one keep-alive connection per worker process, and ask a given worker
whether a cookie still opens a session.

Which worker serves a connection is read from the kernel, not guessed: the
server side of our TCP connection is the socket whose remote port is our
local port (/proc/net/tcp), and the worker is the process holding that
socket's inode among its file descriptors.
"""
import http.client
import os
import re
import signal
import time

from harness import Browser, check


def link_path(link):
    return link[link.index("/magic/verify/"):]


def sign_in(srv, email, agent=None, browser=None):
    """A Browser signed in as email through the real pages (login, generate,
    the link from the outbox, verify). Returns (browser, verify headers)."""
    b = browser or Browser(srv)
    if agent:
        b.agent = agent
    b.login_page()
    n = len(srv.outbox_links())
    st, _, body = b.generate(email)
    check(st == 200, f"generate for {email}: {st} {body[:200]}")
    links = srv.outbox_links()
    check(len(links) == n + 1, f"no new link for {email}")
    path = link_path(links[-1]["link"])
    st, h, body = b.req("GET", path)
    check(st == 200, f"verify page: {st}")
    take_meta_token(b, body)
    st, h, body = b.req("POST", path)
    check(st == 303 and "session" in session_cookie_name(b), f"verify: {st} {h} {body[:200]}")
    return b, h


def session_cookie_name(b):
    for k in b.cookies:
        if k.endswith("session"):
            return k
    return ""


def take_meta_token(b, body):
    m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
    if m:
        b.csrf = m.group(1).decode()


def refresh_token(b, path="/secure/1"):
    """Load a page so the browser's CSRF token matches its current cookie,
    as the page script does on every page."""
    st, _, body = b.req("GET", path)
    check(st == 200, f"GET {path}: {st}")
    take_meta_token(b, body)


def cookie_header(cookies):
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def _server_inode(srv_port, client_port):
    want_local = f":{srv_port:04X}"
    want_remote = f":{client_port:04X}"
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            if p[1].endswith(want_local) and p[2].endswith(want_remote):
                return p[9]
    return None


def worker_of(srv, conn):
    """pid of the worker process serving this (connected) HTTPConnection."""
    port = conn.sock.getsockname()[1]
    end = time.time() + 2
    while time.time() < end:
        ino = _server_inode(srv.port, port)
        if ino:
            tag = f"socket:[{ino}]"
            for pid in srv.worker_pids():
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == tag:
                            return pid
                    except OSError:
                        pass
        time.sleep(0.02)
    return None


def _open(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.connect()
    # Served by a running worker: the request is answered while the others
    # are still paused. (A connection a paused worker took before it
    # stopped is answered after SIGCONT, and then rejected above.)
    c.sock.settimeout(1.0)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
    except OSError:
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
    c.sock.settimeout(10)
    check(r.status == 200, "healthz on a fresh connection")
    return c


def _state(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def _wait_state(pids, want, timeout=2.0):
    end = time.time() + timeout
    while time.time() < end:
        if all((_state(p) in ("T", "t")) == want for p in pids):
            return
        time.sleep(0.005)


def conn_per_worker(srv):
    """{worker pid: keep-alive HTTPConnection served by it}, one for every
    worker. An idle server hands every new connection to the same worker
    (EPOLLEXCLUSIVE wakes the first one waiting), so the others are reached
    by pausing all but the wanted worker (SIGSTOP, and waiting until the
    kernel shows them stopped) while one connection is accepted: a stopped
    worker is not waiting, so the kernel wakes the next."""
    pids = srv.worker_pids()
    got = {}
    for want in pids:
        others = [p for p in pids if p != want]
        # A worker still in its setup accepts nothing yet: retry for a while.
        for attempt in range(40):
            if attempt:
                time.sleep(0.1)
            for p in others:
                os.kill(p, signal.SIGSTOP)
            _wait_state(others, True)
            try:
                c = _open(srv)
            finally:
                for p in others:
                    os.kill(p, signal.SIGCONT)
                _wait_state(others, False)
            pid = worker_of(srv, c)
            if pid == want:
                got[pid] = c
                break
            c.close()
        check(want in got, f"no connection reached worker {want}")
    return got


def ask(conn, method, path, cookies, csrf=None, agent=None):
    """One request on a kept-alive connection: (status, headers, body)."""
    h = {"Cookie": cookie_header(cookies)} if cookies else {}
    if csrf:
        h["X-CSRF-Token"] = csrf
    if agent:
        h["User-Agent"] = agent
    if method == "POST":
        h["Content-Length"] = "0"
    conn.request(method, path, headers=h)
    r = conn.getresponse()
    body = r.read()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def secure_ok(conn, cookies, csrf):
    """Does POST /secure/1 with these cookies answer the protected content?"""
    st, h, body = ask(conn, "POST", "/secure/1", cookies, csrf)
    return st == 200 and b'id="whoami"' in body


def wait_refused(conns, cookies, csrf, limit=1.0, probe=None):
    """Poll every worker's connection until the cookies are refused there;
    returns {pid: seconds until refused}. Fails past `limit` seconds."""
    probe = probe or (lambda c: secure_ok(c, cookies, csrf))
    start = time.monotonic()
    left = dict(conns)
    took = {}
    while left and time.monotonic() - start < limit + 1.0:
        for pid, c in list(left.items()):
            if not probe(c):
                took[pid] = time.monotonic() - start
                del left[pid]
        time.sleep(0.02)
    check(not left, f"still accepted after {limit + 1.0:.1f} s by workers {sorted(left)}")
    slow = {p: t for p, t in took.items() if t > limit}
    check(not slow, f"revocation took more than {limit} s in workers {slow}")
    return took
