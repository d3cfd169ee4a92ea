"""Helpers shared by the profiler integration tests: load, go tool pprof,
per-process CPU time. Python 3 stdlib only."""
import gzip
import os
import shutil
import subprocess
import tempfile
import threading
import time
import http.client
import re

from harness import LOADTEST, check, skip

# Rate limits out of the way, unknown emails get accounts, so every
# /magic/generate request seals a token (the code the profiles must show).
LOAD_CONF = """
signup on;
rate_limit_email 100000000 1m;
rate_limit_ip 100000000 1m;
"""


def need_go():
    if not shutil.which("go"):
        skip("go (golang-go) is not installed: go tool pprof is the profile reader")


def pprof_tool(args, data, timeout=120):
    """Run `go tool pprof ARGS FILE` in an empty directory (the magicd binary
    is not there: the profile must stand on its own). Returns stdout."""
    d = tempfile.mkdtemp(prefix="pprof-read-")
    path = os.path.join(d, "profile.pb.gz")
    with open(path, "wb") as f:
        f.write(data)
    env = dict(os.environ, PPROF_BINARY_PATH=d, HOME=d, GOCACHE=os.path.join(d, "gocache"))
    r = subprocess.run(["go", "tool", "pprof"] + list(args) + [path], cwd=d, env=env,
                       capture_output=True, text=True, timeout=timeout)
    shutil.rmtree(d, ignore_errors=True)
    check(r.returncode == 0, f"go tool pprof {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


CLK_TCK = os.sysconf("SC_CLK_TCK")


class Load:
    """Closed-loop generate load: build/loadtest when built, else Python
    keep-alive clients in threads."""

    def __init__(self, srv, seconds, connections=8):
        self.srv = srv
        self.seconds = seconds
        self.connections = connections
        self.proc = None
        self.threads = []
        self.stop = False
        self.count = 0

    def start(self):
        if os.access(LOADTEST, os.X_OK):
            self.proc = subprocess.Popen(
                [LOADTEST, "-q", "-c", str(self.connections), "-d", f"{self.seconds}s",
                 "generate", f"http://127.0.0.1:{self.srv.port}/"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            for i in range(4):
                t = threading.Thread(target=self._client, args=(i,), daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def _client(self, i):
        import time
        end = time.time() + self.seconds
        while not self.stop and time.time() < end:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
                c.request("GET", "/login")
                r = c.getresponse()
                body = r.read()
                cookie = "; ".join(v.split(";", 1)[0] for k, v in r.getheaders()
                                   if k.lower() == "set-cookie")
                m = re.search(rb'<meta name="csrf-token" content="([^"]+)"', body)
                tok = m.group(1).decode() if m else ""
                for n in range(200):
                    if self.stop or time.time() >= end:
                        break
                    c.request("POST", "/magic/generate", body=f"email=u{i}x{n}%40example.com",
                              headers={"Cookie": cookie, "X-CSRF-Token": tok,
                                       "Content-Type": "application/x-www-form-urlencoded"})
                    c.getresponse().read()
                    self.count += 1
                c.close()
            except OSError:
                pass

    def wait(self):
        if self.proc:
            self.proc.wait(timeout=self.seconds + 30)
        self.stop = True
        for t in self.threads:
            t.join(timeout=30)


def cpu_ns(pid):
    """Nanoseconds the process has run (first field of schedstat); falls
    back to utime+stime ticks where schedstat is missing."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except OSError:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) * 1000000000 // os.sysconf("SC_CLK_TCK")


def varint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return x, i


def profile_window(data):
    """(time_nanos, duration_nanos) of a gzip'd profile.proto (fields 9, 10)."""
    b = gzip.decompress(data)
    i, t, d = 0, 0, 0
    while i < len(b):
        key, i = varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
            if field == 9:
                t = v
            elif field == 10:
                d = v
        elif wt == 2:
            n, i = varint(b, i)
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
    return t, d


class CpuWatch:
    """The workers' CPU time, read every 5 ms with the wall clock."""

    def __init__(self, pids):
        self.pids, self.points, self.stop = pids, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.points.append((time.time_ns(), sum(cpu_ns(p) for p in self.pids)))
            time.sleep(0.005)

    def at(self, t):
        pts = self.points
        for (t0, c0), (t1, c1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / max(1, t1 - t0)
        return pts[-1][1] if t > pts[-1][0] else pts[0][1]

    def done(self):
        self.stop = True
        self.t.join()
