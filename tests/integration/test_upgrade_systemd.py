"""test_upgrade_systemd: a binary upgrade under systemd hands the service over.

systemd follows one main process. When USR2 starts a new master (a child
of the old one), the new master must announce itself with MAINPID=<its pid>
and READY=1, and the old master, once retired with QUIT, must not send
STOPPING=1: after the hand-over it is no longer the service, and a
STOPPING=1 from it would make systemd stop the unit that the new master is
serving. A real datagram socket with SO_PASSCRED stands in for systemd, so
every message is attributed to the process that sent it.
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Magicd, check, skip  # noqa: E402


class Notify:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        self.msgs = []  # (sender pid, {VAR: VALUE})

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = 0
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
        kv = dict(line.partition("=")[::2] for line in data.decode().split("\n") if line)
        self.msgs.append((pid, kv))
        return pid, kv

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.recv(max(0.01, end - time.monotonic()))

    def wait_for(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(0.01, end - time.monotonic()))
            if m and cond(*m):
                return m
        raise AssertionError(f"timed out waiting for {what}; got {self.msgs}")


def read_pid(path):
    try:
        return int(open(path).read().strip() or 0)
    except (OSError, ValueError):
        return 0


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=2)
    notify = Notify(os.path.join(srv.tmp, "notify.sock"))
    srv.start(env={"NOTIFY_SOCKET": notify.path})
    old, new = srv.proc.pid, 0
    try:
        notify.wait_for(lambda pid, kv: kv.get("READY") == "1", 20, "READY=1 from the master")
        srv.signal(signal.SIGUSR2)
        pid, kv = notify.wait_for(lambda pid, kv: "MAINPID" in kv and pid != old, 20,
                                  "MAINPID= from the new master")
        new = int(kv["MAINPID"])
        check(new == pid, f"MAINPID={new} sent by process {pid}")
        check(kv.get("READY") == "1" or notify.wait_for(
            lambda p, k: p == new and k.get("READY") == "1", 20, "READY=1 from the new master"),
            "no READY=1 from the new master")
        check(read_pid(srv.pid_file) == new, "pid file does not name the new master")
        print(f"ok: USR2 -> new master {new} sent MAINPID={new} and READY=1")

        srv.signal(signal.SIGWINCH)
        notify.drain(1.0)
        srv.signal(signal.SIGQUIT)
        rc = srv.proc.wait(20)
        check(rc == 0, f"old master exit status {rc}")
        notify.drain(1.0)
        late = [kv for pid, kv in notify.msgs if pid == old and "STOPPING" in kv]
        check(not late, "the old master sent STOPPING=1 after handing the service over "
              "(systemd would stop the unit the new master serves)")
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, f"/healthz {st} from the new master")
        print("ok: old master retired without STOPPING=1; the new master serves")

        os.kill(new, signal.SIGQUIT)
        notify.wait_for(lambda pid, kv: pid == new and kv.get("STOPPING") == "1", 20,
                        "STOPPING=1 from the new master on QUIT")
        print("ok: QUIT to the new master -> STOPPING=1 from it")
    except BaseException:
        sys.stderr.write("---- error log ----\n" + srv.log() + "\n")
        raise
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if new:
            try:
                os.kill(new, signal.SIGQUIT)
            except ProcessLookupError:
                pass
        for _ in range(100):
            if not new:
                break
            try:
                os.kill(new, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(new, signal.SIGKILL)


if __name__ == "__main__":
    main()
