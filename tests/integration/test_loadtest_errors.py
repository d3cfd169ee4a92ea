"""loadtest fails cleanly: a closed port is one clear message, exit 1 and a
JSON report counting the connection error (no crash, no minute of retries);
bad flags are a message and exit 2; a server that dies under load shows up
as socket errors in the report, not a crash."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LOADTEST, Magicd, check, free_port, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")


def lt(*args, timeout=30):
    r = subprocess.run([LOADTEST] + list(args), capture_output=True, text=True, timeout=timeout)
    print(f"$ loadtest {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}")
    check(r.returncode >= 0, f"loadtest killed by signal {-r.returncode}")
    return r


def main():
    tmp = tempfile.mkdtemp(prefix="lt-err-")
    port = free_port()
    out = os.path.join(tmp, "closed.json")
    t = time.time()
    r = lt("-c", "10", "-d", "5s", "--json", out, "get", f"http://127.0.0.1:{port}/")
    check(r.returncode == 1, f"closed port: exit {r.returncode}, expected 1")
    check("cannot connect" in r.stderr and "refused" in r.stderr.lower(),
          f"closed port: unclear message {r.stderr!r}")
    check(time.time() - t < 4, "closed port: did not give up at once")
    with open(out) as f:
        d = json.load(f)
    check(d["errors"]["connect"] >= 1 and d["requests"] == 0, f"closed port report: {d['errors']}")
    check(d["error"] and "cannot connect" in d["error"], "closed port: JSON error field")

    for args, what in [(["-c", "0", "http://127.0.0.1:1/"], "-c"),
                       (["-d", "soon", "http://127.0.0.1:1/"], "-d"),
                       (["-R", "-5", "http://127.0.0.1:1/"], "-R"),
                       (["--frobnicate", "http://127.0.0.1:1/"], "unknown option"),
                       (["walk", "http://127.0.0.1:1/"], "unknown scenario"),
                       (["ftp://127.0.0.1/"], "http://"),
                       ([], "no URL"),
                       (["--emails", os.path.join(tmp, "missing"), "http://127.0.0.1:1/"], "emails")]:
        r = lt(*args)
        check(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2")
        check(what in r.stderr, f"{args}: message {r.stderr!r} does not mention {what!r}")

    # The server goes away in the middle of a run: errors are counted, the
    # report still comes, the process does not crash.
    with Magicd(workers=1, profiler=False) as srv:
        out = os.path.join(tmp, "dies.json")
        p = subprocess.Popen([LOADTEST, "-c", "20", "-t", "2", "-d", "3s", "-q", "--timeout", "1s",
                              "--json", out, "get", f"http://127.0.0.1:{srv.port}/healthz"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        kids = [pid for pid, _ in srv.children()]
        for pid in kids:
            os.kill(pid, signal.SIGKILL)
        srv.stop(signal.SIGKILL)
        so, se = p.communicate(timeout=30)
        print(so, se)
        check(p.returncode == 0, f"server died: exit {p.returncode}")
        with open(out) as f:
            d = json.load(f)
        check(d["requests"] > 0, "no requests before the server died")
        check(d["errors"]["total"] > 0, f"server died but no errors counted: {d['errors']}")
    print("ok")


if __name__ == "__main__":
    main()
