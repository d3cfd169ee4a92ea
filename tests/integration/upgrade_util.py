"""Helpers for the tests that replace a running master (binary upgrade) or
reload it under load: the pid file, whether a process is still alive (a
zombie is not), a master's children and their titles, waiting for a
condition, and the nginx-style upgrade steps themselves.

  USR2   the master re-executes its binary: a new master starts with the
         listening sockets, the old pid moves to PID.oldbin;
  WINCH  the old master retires its workers (the new ones serve);
  QUIT   the old master exits.
"""
import os
import signal
import time


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def children(pid):
    try:
        return [int(k) for k in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def title(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def usr2_new_master(srv, old, workers=2, timeout=15):
    """USR2 to the master old: the new master's pid once the pid file names
    it and it has `workers` worker processes."""
    srv.signal(signal.SIGUSR2)
    new = wait_until(lambda: read_pid(srv.pid_file) not in (0, old) and read_pid(srv.pid_file),
                     timeout, "the new master's pid file")
    wait_until(lambda: len([p for p in children(new) if "worker process" in title(p)]) >= workers,
               timeout, "the new master's workers")
    return new


def winch_old_workers(srv, old_workers, timeout=15):
    """WINCH to the old master: until every one of old_workers has exited."""
    srv.signal(signal.SIGWINCH)
    wait_until(lambda: not any(alive(p) for p in old_workers), timeout,
               "the old workers to exit after WINCH")
