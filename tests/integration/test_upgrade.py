"""test_upgrade: zero-downtime binary upgrade, nginx style.

magicd runs from a copy of the binary in the test's directory so the test
can replace it, as a package upgrade would. A client loop runs in threads
the whole time (a new connection per request, and keep-alive), and:
  1. the installed binary is replaced by one that fails at start; USR2 starts
     it, it dies, and the old master keeps serving with its pid file intact;
  2. the real binary is put back; USR2 starts it, it inherits the listening
     socket (MAGICD_INHERIT) and writes the pid file while the old master's
     moves to PID.oldbin; WINCH retires the old workers, QUIT the old master;
  3. the new master serves alone, and not one request failed throughout.
"""
import http.client
import os
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Magicd, check, skip  # noqa: E402
from upgrade_util import (alive, children, read_pid, usr2_new_master,  # noqa: E402
                          wait_until, winch_old_workers)


class Clients:
    def __init__(self, port, n=4):
        self.port = port
        self.ok = 0
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(i % 2 == 0,), daemon=True)
                        for i in range(n)]

    def start(self):
        for t in self.threads:
            t.start()

    def loop(self, keepalive):
        c = None
        while not self.stop.is_set():
            reused = c is not None
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
                if not keepalive or r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
                with self.lock:
                    self.ok += 1
            except (OSError, http.client.HTTPException, RuntimeError) as e:
                # A keep-alive connection the server closed between requests
                # (graceful worker exit) is not a lost request: clients retry
                # those, as browsers do. Anything else is.
                if reused and isinstance(e, (http.client.RemoteDisconnected,
                                                    ConnectionResetError, BrokenPipeError)):
                    c.close()
                    c = None
                    continue
                with self.lock:
                    self.errors.append(f"{time.time():.3f} {type(e).__name__}: {e}")
                if c is not None:
                    c.close()
                    c = None
            time.sleep(0.002)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def main():
    if not os.path.exists(harness.BIN):
        skip(f"{harness.BIN} not built")
    srv = Magicd(workers=2)
    installed = os.path.join(srv.tmp, "sbin", "magicd")
    os.makedirs(os.path.dirname(installed))
    shutil.copy2(harness.BIN, installed)
    real_bin, harness.BIN = harness.BIN, installed
    new_master = 0
    clients = None
    try:
        srv.start()
        old = srv.proc.pid
        check(read_pid(srv.pid_file) == old, "pid file does not hold the master's pid")
        clients = Clients(srv.port)
        clients.start()
        time.sleep(0.5)

        # 1. A broken new binary: the old master keeps serving.
        broken = installed + ".tmp"
        with open(broken, "w") as f:
            f.write("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
        os.chmod(broken, 0o755)
        os.rename(broken, installed)
        srv.signal(signal.SIGUSR2)
        time.sleep(2.0)
        check(srv.proc.poll() is None, "old master died after a failed upgrade")
        check(read_pid(srv.pid_file) == old,
              f"pid file holds {read_pid(srv.pid_file)} after a failed upgrade, want {old}")
        check(not os.path.exists(srv.pid_file + ".oldbin"),
              "PID.oldbin left behind after a failed upgrade")
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, f"/healthz {st} after a failed upgrade")
        check(len(srv.worker_pids()) >= 2, "old workers gone after a failed upgrade")
        print("ok: failed new binary -> old master still serving, pid file intact")

        # 2. The real new binary.
        shutil.copy2(real_bin, installed + ".tmp")
        os.rename(installed + ".tmp", installed)
        old_workers = set(srv.worker_pids())
        new_master = usr2_new_master(srv, old)
        check(read_pid(srv.pid_file + ".oldbin") == old, "PID.oldbin does not hold the old pid")
        check(new_master in children(old), "new master is not the old master's child")
        print(f"ok: USR2 -> new master {new_master} with its workers, old pid in .oldbin")
        time.sleep(1.0)  # both generations accept side by side

        winch_old_workers(srv, old_workers)
        check(srv.proc.poll() is None, "old master exited on WINCH")
        time.sleep(1.0)
        print("ok: WINCH -> old workers gone, new ones serving")

        srv.signal(signal.SIGQUIT)
        rc = srv.proc.wait(20)
        check(rc == 0, f"old master exit status {rc}")
        check(alive(new_master), "new master died with the old one")
        check(not os.path.exists(srv.pid_file + ".oldbin"), "PID.oldbin left after QUIT")
        check(read_pid(srv.pid_file) == new_master, "pid file lost the new master's pid")
        time.sleep(1.0)
        clients.finish()
        print(f"ok: QUIT old master; {clients.ok} requests during the upgrade, "
              f"{len(clients.errors)} failed")
        check(clients.ok > 200, f"only {clients.ok} requests completed")
        check(not clients.errors, "requests failed during the upgrade:\n"
              + "\n".join(clients.errors[:20]))
    except BaseException:
        sys.stderr.write("---- error log ----\n" + srv.log() + "\n")
        raise
    finally:
        if clients:
            clients.finish()
        harness.BIN = real_bin
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if new_master and alive(new_master):
            os.kill(new_master, signal.SIGQUIT)
            try:
                wait_until(lambda: not alive(new_master), 15, "the new master to exit")
            except AssertionError:
                os.kill(new_master, signal.SIGKILL)


if __name__ == "__main__":
    main()
