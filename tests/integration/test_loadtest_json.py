"""`loadtest --json FILE` writes a report that parses and has the documented
fields with consistent values (statuses add up to requests, percentiles in
order, rate = requests / duration); and the open loop (-R) holds its target
rate within 5% on a short run."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LOADTEST, Magicd, check, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")

FIELDS = {
    "scenario": str, "url": str, "connections": int, "threads": int, "mode": str,
    "duration_s": float, "requests": int, "requests_per_sec": float, "bytes": int,
    "bytes_per_sec": float, "latency_us": dict, "status": dict, "requests_by_kind": dict,
    "errors": dict, "flow_errors": dict,
}


def run(srv, *args):
    out = os.path.join(srv.tmp, "lt.json")
    cmd = [LOADTEST, "-q", "--json", out] + list(args) + [f"http://127.0.0.1:{srv.port}/healthz"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    check(r.returncode == 0, f"exit {r.returncode}")
    with open(out) as f:
        return json.load(f)


def main():
    with Magicd(workers=1, profiler=False) as srv:
        d = run(srv, "-c", "4", "-t", "1", "-d", "1s", "get")
        for k, t in FIELDS.items():
            check(k in d, f"missing field {k}")
            check(isinstance(d[k], t) or (t is float and isinstance(d[k], int)),
                  f"field {k} is {type(d[k]).__name__}, expected {t.__name__}")
        check("target_rate" in d and d["target_rate"] is None and d["mode"] == "closed", "closed mode")
        check(d["error"] is None, "error field")
        lat = d["latency_us"]
        for k in ("min", "mean", "p50", "p90", "p99", "p99_9", "max"):
            check(isinstance(lat.get(k), (int, float)), f"latency_us.{k} missing")
        check(0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"],
              f"percentiles out of order: {lat}")
        for k in ("connect", "read", "write", "timeout", "total"):
            check(isinstance(d["errors"].get(k), int), f"errors.{k} missing")
        check(sum(d["status"].values()) == d["requests"], "statuses do not add up")
        check(sum(d["requests_by_kind"].values()) == d["requests"], "kinds do not add up")
        rate = d["requests"] / d["duration_s"]
        check(abs(rate - d["requests_per_sec"]) < 0.01 * rate + 1, "requests_per_sec")
        check(0.9 < d["duration_s"] < 1.2, f"duration {d['duration_s']}")
        check(d["bytes"] > d["requests"] * 20, "bytes")

        d = run(srv, "-c", "8", "-t", "2", "-d", "2s", "-R", "500", "get")
        check(d["mode"] == "open" and d["target_rate"] == 500, "open mode fields")
        check(abs(d["requests_per_sec"] - 500) <= 25,  # 5%: a busy 2-core machine delays the first second
              f"open loop: {d['requests_per_sec']} req/s for a target of 500")
        check(d["errors"]["total"] == 0, "open loop errors")
    print("ok")


if __name__ == "__main__":
    main()
