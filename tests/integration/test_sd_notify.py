"""test_sd_notify: the master speaks systemd's notification protocol.

A real AF_UNIX datagram socket stands in for systemd (NOTIFY_SOCKET), and
the real magicd is started with it, plus WATCHDOG_USEC. Checked:
  - READY=1 arrives once the workers and the profiler are up (they exist
    and /healthz answers 200 at that moment), not before;
  - NOTIFY_SOCKET is not passed on to workers (only the master talks);
  - STATUS= lines name workers, connections and requests/s;
  - WATCHDOG=1 keeps coming at about half of WATCHDOG_USEC;
  - HUP -> RELOADING=1 with a current MONOTONIC_USEC, then READY=1;
  - QUIT -> STOPPING=1, and nothing says READY after it;
  - the order of the state messages is READY, RELOADING, READY, STOPPING.
"""
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Magicd, check, skip  # noqa: E402

WATCHDOG_USEC = 2_000_000


class Notify:
    """The systemd side: collects datagrams as (time, {VAR: VALUE})."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.msgs = []

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        kv = {}
        for line in data.decode().split("\n"):
            if line:
                k, _, v = line.partition("=")
                kv[k] = v
        self.msgs.append((time.monotonic(), kv))
        return kv

    def wait_for(self, key, timeout, on_msg=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            kv = self.recv(max(0.01, end - time.monotonic()))
            if kv is None:
                continue
            if on_msg:
                on_msg(kv)
            if key in kv:
                return kv
        raise AssertionError(f"no {key} within {timeout}s; got {[m for _, m in self.msgs]}")

    def states(self):
        return [k for _, kv in self.msgs for k in ("READY", "RELOADING", "STOPPING") if k in kv]


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=2)
    notify = Notify(os.path.join(srv.tmp, "notify.sock"))
    srv.start(wait=False, env={"NOTIFY_SOCKET": notify.path,
                               "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    try:
        run(srv, notify)
    except BaseException:
        sys.stderr.write("---- error log ----\n" + srv.log() + "\n")
        raise
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()


def run(srv, notify):
    # 1. READY=1 only once the workers and the profiler are up.
    kv = notify.wait_for("READY", 20)
    check(kv["READY"] == "1", f"READY={kv['READY']}")
    # The children must exist when READY=1 arrives; a child sets its title
    # ("worker process", ...) just after fork, so give the titles a moment.
    kids = srv.children()
    check(len(kids) >= 3, f"READY=1 with {len(kids)} children (want 2 workers + profiler)")
    end = time.monotonic() + 5
    while time.monotonic() < end and (len(srv.worker_pids()) < 2 or not srv.profiler_pid()):
        time.sleep(0.02)
    workers, prof = srv.worker_pids(), srv.profiler_pid()
    check(len(workers) >= 2, f"{len(workers)} workers after READY=1")
    check(prof is not None, "no profiler process after READY=1")
    check(set(workers + [prof]) <= set(p for p, _ in kids),
          "workers or profiler started after READY=1")
    st, _, _ = srv.request("GET", "/healthz", timeout=5)
    check(st == 200, f"/healthz {st} right after READY=1")
    print(f"ok: READY=1 with workers {workers} and profiler {prof} up")

    # 2. Children do not inherit the notify socket.
    for pid in workers + [prof]:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        check(not any(e.startswith(b"NOTIFY_SOCKET=") for e in env),
              f"child {pid} inherited NOTIFY_SOCKET")
        check(not any(e.startswith(b"WATCHDOG_USEC=") for e in env),
              f"child {pid} inherited WATCHDOG_USEC")
    print("ok: workers and profiler do not inherit NOTIFY_SOCKET / WATCHDOG_USEC")

    # 3. STATUS= and WATCHDOG=1, over a few seconds with traffic running:
    # some STATUS line must show the requests.
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                srv.request("GET", "/healthz", timeout=2)
            except OSError:
                pass
            time.sleep(0.01)

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    status, dogs, busy = [], [], None
    end = time.monotonic() + 12
    while time.monotonic() < end and (len(dogs) < 3 or not busy):
        kv = notify.recv(0.5)
        if kv and "STATUS" in kv:
            status.append(kv["STATUS"])
            m = re.search(r"([\d.]+) requests/s", kv["STATUS"])
            if m and float(m.group(1)) > 0:
                busy = kv["STATUS"]
        if kv and kv.get("WATCHDOG") == "1":
            dogs.append(time.monotonic())
    stop.set()
    t.join(5)
    check(status, f"no STATUS= line in 12 s; got {[m for _, m in notify.msgs]}")
    s = status[-1]
    check(re.search(r"\b\d+ workers?\b", s) and re.search(r"\b\d+ connections?\b", s)
          and re.search(r"[\d.]+ requests/s", s),
          f"STATUS does not give workers, connections and requests/s: {s!r}")
    check(busy, f"no STATUS line counted the requests: {status}")
    print(f"ok: STATUS={busy!r}")
    check(len(dogs) >= 3, f"{len(dogs)} WATCHDOG=1 in 8 s with WATCHDOG_USEC={WATCHDOG_USEC}")
    gaps = [b - a for a, b in zip(dogs, dogs[1:])]
    check(max(gaps) < WATCHDOG_USEC / 1e6, f"watchdog gaps {gaps} exceed the interval")
    print(f"ok: WATCHDOG=1 every {min(gaps):.2f}-{max(gaps):.2f} s "
          f"(interval {WATCHDOG_USEC / 1e6:.0f} s)")

    # 4. HUP: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    before = time.monotonic()
    srv.signal(signal.SIGHUP)
    kv = notify.wait_for("RELOADING", 10)
    after = time.monotonic()
    check(kv["RELOADING"] == "1", f"RELOADING={kv['RELOADING']}")
    check("MONOTONIC_USEC" in kv, f"RELOADING=1 without MONOTONIC_USEC: {kv}")
    us = int(kv["MONOTONIC_USEC"])
    check(before * 1e6 - 1e5 <= us <= after * 1e6 + 1e5,
          f"MONOTONIC_USEC={us} not within [{before * 1e6:.0f}, {after * 1e6:.0f}]")
    kv = notify.wait_for("READY", 20)
    st, _, _ = srv.request("GET", "/healthz", timeout=5)
    check(st == 200, f"/healthz {st} after the reload's READY=1")
    print(f"ok: HUP -> RELOADING=1 MONOTONIC_USEC={us} -> READY=1")

    # 5. QUIT: STOPPING=1, then the master exits cleanly.
    srv.signal(signal.SIGQUIT)
    notify.wait_for("STOPPING", 10)
    rc = srv.proc.wait(20)
    check(rc == 0, f"master exit status {rc} after QUIT")
    while notify.recv(0.2) is not None:
        pass
    print("ok: QUIT -> STOPPING=1, exit 0")

    # 6. Order of the state changes.
    states = notify.states()
    check(states == ["READY", "RELOADING", "READY", "STOPPING"],
          f"state messages out of order: {states}")
    print(f"ok: order {states}")


if __name__ == "__main__":
    main()
