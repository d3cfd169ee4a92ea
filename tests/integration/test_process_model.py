"""The nginx process model: titles; HUP while a client loop runs loses no
request and the new config takes effect; a bad config on HUP keeps the old
one running; kill -9 of a worker is repaired and service goes on; QUIT lets
an in-flight request finish; USR1 reopens the logs; -s signals via the pid
file."""
import os
import signal
import socket
import threading
import time
from harness import Magicd, Browser, DEMO, check


class Loop(threading.Thread):
    """New connection per request, as a fleet of clients would do."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.ok, self.fail, self.stop, self.errors = srv, 0, 0, False, []

    def run(self):
        while not self.stop:
            try:
                st, _, _ = self.srv.request("GET", "/login", timeout=5)
                if st == 200:
                    self.ok += 1
                else:
                    self.fail += 1
                    self.errors.append(st)
            except OSError as e:
                self.fail += 1
                self.errors.append(repr(e))


with Magicd(workers=2) as srv:
    titles = [t for _, t in srv.children()]
    check(sum("magicd: worker process" in t for t in titles) == 2, f"titles {titles}")
    master_cmd = open(f"/proc/{srv.proc.pid}/cmdline", "rb").read()
    check(b"magicd: master process" in master_cmd, f"master title {master_cmd}")
    check(int(open(srv.pid_file).read()) == srv.proc.pid, "pid file")

    # HUP under load: new config (link_ttl 7m) takes effect, nothing lost
    old = set(srv.worker_pids())
    loop = Loop(srv)
    loop.start()
    time.sleep(0.5)
    srv.write_conf(srv.extra + "\nlink_ttl 7m;")
    srv.signal(signal.SIGHUP)
    end = time.time() + 10
    while time.time() < end and (set(srv.worker_pids()) & old or len(srv.worker_pids()) < 2):
        time.sleep(0.1)
    time.sleep(0.5)
    loop.stop = True
    loop.join()
    new = set(srv.worker_pids())
    check(new and not (new & old), f"new generation of workers: old {old} new {new}")
    check(loop.fail == 0 and loop.ok > 50, f"HUP lost requests: ok={loop.ok} fail={loop.fail} {loop.errors[:5]}")
    b = Browser(srv)
    b.login_page()
    st, _, body = b.generate(DEMO)
    check(b"expires in 7 minutes" in body, f"new config in effect: {body[:200]}")

    # a broken config on HUP: logged, old config keeps serving
    before = set(srv.worker_pids())
    srv.write_conf(srv.extra + "\nbogus_directive on;")
    srv.signal(signal.SIGHUP)
    time.sleep(1)
    check("reload failed" in srv.log() and "bogus_directive" in srv.log(), "bad reload logged")
    check(set(srv.worker_pids()) == before, "workers untouched by a bad reload")
    st, _, body = b.generate(DEMO)
    check(st == 200 and b"expires in 7 minutes" in body, "still on the good config")
    srv.write_conf(srv.extra + "\nlink_ttl 7m;")

    # kill -9 a worker: it is replaced, service goes on
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    end = time.time() + 5
    while time.time() < end and (victim in srv.worker_pids() or len(srv.worker_pids()) < 2):
        time.sleep(0.05)
    check(victim not in srv.worker_pids() and len(srv.worker_pids()) == 2,
          f"worker respawned: {srv.worker_pids()}")
    check("exited on signal 9" in srv.log(), "crash logged")
    for _ in range(20):
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, "serving after the crash")

    # USR1 reopens logs: move the access log away, signal, the new file fills
    os.rename(srv.access_log, srv.access_log + ".1")
    srv.run_cli("-s", "reopen")
    time.sleep(0.5)
    for _ in range(5):
        srv.request("GET", "/healthz")
    time.sleep(1.5)
    check(os.path.exists(srv.access_log) and os.path.getsize(srv.access_log) > 0,
          "access log reopened after USR1")

    # QUIT with a request in flight: send headers and half the body, QUIT,
    # then the rest: the request is answered, then the server exits.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    body = b"email=demo%40example.com"
    s.sendall(b"POST /magic/generate HTTP/1.1\r\nHost: a\r\nContent-Type: "
              b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
              + body[:5])
    time.sleep(0.3)
    srv.run_cli("-s", "quit")
    time.sleep(0.5)
    check(srv.proc.poll() is None, "master waits for in-flight requests")
    s.sendall(body[5:])
    resp = s.recv(65536)
    check(resp.startswith(b"HTTP/1.1 403"), f"in-flight request answered: {resp[:60]!r}")
    check(b"Connection: close" in resp, "answered with Connection: close during shutdown")
    s.close()
    srv.proc.wait(10)
    check(srv.proc.returncode == 0, f"clean exit {srv.proc.returncode}")
    check(not os.path.exists(srv.pid_file), "pid file removed")

# TERM is a fast stop
with Magicd(workers=1) as srv:
    t0 = time.time()
    check(srv.stop(signal.SIGTERM) == 0, "TERM exit code")
    check(time.time() - t0 < 3, "TERM is fast")
# kill -9 of the master: the children do not live on as orphans
with Magicd(workers=2) as srv:
    kids = [p for p, _ in srv.children()]
    check(len(kids) >= 2, "children")
    srv.proc.kill()
    srv.proc.wait()
    end = time.time() + 10
    while time.time() < end and any(os.path.exists(f"/proc/{k}") and
                                    open(f"/proc/{k}/stat").read().split()[2] != "Z" for k in kids):
        time.sleep(0.1)
    alive = [k for k in kids if os.path.exists(f"/proc/{k}") and
             open(f"/proc/{k}/stat").read().split()[2] != "Z"]
    check(not alive, f"orphaned children after the master died: {alive}")
print("process model ok")
