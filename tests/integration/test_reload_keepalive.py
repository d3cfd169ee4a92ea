"""Reloads lose nothing, even for clients that never retry.

Clients keep keep-alive connections busy with GET /healthz and count every
error: a connection the server closed between two requests (the race every
server that closes idle connections on reload has), a reset, a timeout, a
status other than 200. A `Connection: close` answer is not an error: the
client opens a new connection for its next request, as any client does.

While they run: 20 HUPs, then a binary upgrade (USR2, WINCH, QUIT of the
old master). The retiring workers hand their keep-alive connections to the
new generation over the master's hand-off socket, so no client sees a
single error. wrk, when installed, runs beside the python clients and its
socket errors and non-2xx answers must be 0 too.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Magicd, check  # noqa: E402
from upgrade_util import alive, usr2_new_master, wait_until, winch_old_workers  # noqa: E402

NCLIENTS = 24
REQ = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"


class Client(threading.Thread):
    """One keep-alive connection at a time, requests back to back (with a
    short random pause, so connections are idle at the moment a worker
    retires), never retried."""

    def __init__(self, port, stop, pause):
        super().__init__(daemon=True)
        self.port, self.stop, self.pause = port, stop, pause
        self.ok = 0
        self.reconnects = 0
        self.errors = []

    def response(self, s, buf):
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise ConnectionError("closed before a response" if not buf else
                                      "closed in the middle of a response")
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(rest) < n:
            d = s.recv(65536)
            if not d:
                raise ConnectionError("closed in the middle of a body")
            rest += d
        return head, rest[n:]

    def run(self):
        s = None
        while not self.stop.is_set():
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    self.reconnects += 1
                s.sendall(REQ)
                head, extra = self.response(s, b"")
                st = int(head.split(b" ", 2)[1])
                if st != 200:
                    raise RuntimeError(f"status {st}")
                self.ok += 1
                if re.search(rb"(?i)\r\nconnection: *close", head):
                    s.close()
                    s = None
            except (OSError, RuntimeError, AttributeError, ValueError) as e:
                self.errors.append(f"{time.time():.3f} {type(e).__name__}: {e}")
                if s is not None:
                    s.close()
                s = None
            time.sleep(self.pause)
        if s is not None:
            s.close()


def wrk_run(port, seconds):
    if not shutil.which("wrk"):
        return None
    return subprocess.Popen(["wrk", "-t1", "-c32", f"-d{seconds}s", "--timeout", "5s",
                             f"http://127.0.0.1:{port}/healthz"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_errors(out):
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs += int(m.group(1))
    return errs


srv = Magicd(workers=2, extra="keepalive_timeout 60s;")
new_master = 0
stop = threading.Event()
clients = [Client(srv.port, stop, 0.001 * (i % 8)) for i in range(NCLIENTS)]
try:
    srv.start()
    old = srv.proc.pid
    wrk = wrk_run(srv.port, 22)
    for c in clients:
        c.start()
    time.sleep(1.0)
    for i in range(20):
        srv.signal(signal.SIGHUP)
        time.sleep(0.4)
    print(f"20 HUPs sent; workers now {srv.worker_pids()}")
    time.sleep(1.0)

    # Binary upgrade: USR2 starts a new master with our sockets, WINCH
    # retires the old workers, QUIT ends the old master.
    old_workers = set(srv.worker_pids())
    new_master = usr2_new_master(srv, old)
    time.sleep(1.0)
    winch_old_workers(srv, old_workers, 20)
    time.sleep(0.5)
    srv.signal(signal.SIGQUIT)
    srv.proc.wait(20)
    print(f"binary upgrade done: new master {new_master}")
    time.sleep(2.0)
    stop.set()
    for c in clients:
        c.join(15)
    ok = sum(c.ok for c in clients)
    errors = [e for c in clients for e in c.errors]
    print(f"python clients: {ok} requests, {sum(c.reconnects for c in clients)} connections, "
          f"{len(errors)} errors")
    if wrk:
        out = wrk.communicate(timeout=60)[0]
        print(out)
        werr = wrk_errors(out)
        check("requests in" in out, "wrk did not run")
        check(werr == 0, f"wrk saw {werr} socket errors or non-2xx answers across the reloads")
    check(ok > 1000, f"only {ok} requests completed")
    check(not errors, "clients saw errors across 20 HUPs and a binary upgrade:\n"
          + "\n".join(errors[:20]))
    print("ok")
except BaseException:
    sys.stderr.write("---- error log ----\n" + srv.log() + "\n")
    raise
finally:
    stop.set()
    if new_master and alive(new_master):
        os.kill(new_master, signal.SIGTERM)
        wait_until(lambda: not alive(new_master), 15, "the new master to stop")
    srv.stop()
srv.check_sanitizers()
