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


def _fields(b):
    """(field, wire type, value) of one protobuf message; value is an int or bytes."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield field, wt, v


def decode_profile(data):
    """A gzip'd profile.proto as {"types": [(type, unit)], "samples": [(values,
    {label: str}, [location ids])], "comments": [str], "mappings": [dict],
    "locations": {id: dict}, "functions": {id: dict}}: what the tests read
    besides go tool pprof (stdlib only)."""
    b = gzip.decompress(data)
    strings, raw_samples, types, comments = [], [], [], []
    raw_maps, raw_locs, raw_funcs = [], [], []
    for f, wt, v in _fields(b):
        if f == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif f == 2:
            raw_samples.append(v)
        elif f == 1:
            types.append(v)
        elif f == 13:
            comments.append((wt, v))
        elif f == 3:
            raw_maps.append(v)
        elif f == 4:
            raw_locs.append(v)
        elif f == 5:
            raw_funcs.append(v)

    def packed(wt, v):
        if wt == 0:
            return [v]
        out, i = [], 0
        while i < len(v):
            x, i = varint(v, i)
            out.append(x)
        return out

    def sval(x):
        return x - (1 << 64) if x >= 1 << 63 else x

    prof = {"types": [], "samples": [],
            "comments": [strings[c] for wt, v in comments for c in packed(wt, v)],
            "mappings": [], "locations": {}, "functions": {}}
    for t in types:
        d = dict((f, v) for f, _, v in _fields(t))
        prof["types"].append((strings[d.get(1, 0)], strings[d.get(2, 0)]))
    for s in raw_samples:
        vals, labels, locs = [], {}, []
        for f, wt, v in _fields(s):
            if f == 1:
                locs += packed(wt, v)
            elif f == 2:
                vals += [sval(x) for x in packed(wt, v)]
            elif f == 3:
                d = dict((lf, lv) for lf, _, lv in _fields(v))
                labels[strings[d.get(1, 0)]] = strings[d.get(2, 0)] if d.get(2) else d.get(3, 0)
        prof["samples"].append((vals, labels, locs))
    names = {1: "id", 2: "start", 3: "limit", 4: "offset", 5: "filename", 6: "build_id",
             7: "has_functions", 8: "has_filenames", 9: "has_line_numbers",
             10: "has_inline_frames"}
    for m in raw_maps:
        d = {names[f]: v for f, _, v in _fields(m) if f in names}
        for k in ("filename", "build_id"):
            d[k] = strings[d.get(k, 0)]
        prof["mappings"].append(d)
    for l in raw_locs:
        d = {"lines": []}
        for f, _, v in _fields(l):
            if f == 1:
                d["id"] = v
            elif f == 2:
                d["mapping_id"] = v
            elif f == 3:
                d["address"] = v
            elif f == 4:
                ld = dict((lf, lv) for lf, _, lv in _fields(v))
                d["lines"].append((ld.get(1, 0), ld.get(2, 0)))
        prof["locations"][d["id"]] = d
    for fn in raw_funcs:
        d = dict((f, v) for f, _, v in _fields(fn))
        prof["functions"][d[1]] = {"name": strings[d.get(2, 0)], "filename": strings[d.get(4, 0)]}
    return prof


def sample_total(data, index=0):
    """Sum of value[index] over a profile's samples."""
    return sum(v[index] for v, _, _ in decode_profile(data)["samples"])
