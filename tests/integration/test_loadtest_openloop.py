"""The open loop (-R) corrects coordinated omission: against a server that
takes 100 ms per request on one connection (capacity 10 req/s), asking for
40 req/s must show latencies growing far past 100 ms, because each request is
timed from when it was due, not from when a connection was free; the closed
loop on the same server reports about 100 ms. Also --timeout: a server that
accepts connections and never answers gives timeout errors, promptly."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LOADTEST, check, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(0.1)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def run(tmp, *args):
    out = os.path.join(tmp, "lt.json")
    cmd = [LOADTEST, "-q", "--json", out] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print(f"$ {' '.join(cmd)} -> {r.returncode}\n{r.stdout}{r.stderr}")
    with open(out) as f:
        return r, json.load(f)


def main():
    tmp = tempfile.mkdtemp(prefix="lt-open-")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    srv.handle_error = lambda *a: None  # clients hanging up at the end of a run
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"

    _, closed = run(tmp, "-c", "1", "-t", "1", "-d", "2s", "get", url)
    p99 = closed["latency_us"]["p99"]
    check(90e3 <= p99 <= 1e6, f"closed loop p99 {p99} us, expected about 100 ms")

    _, opened = run(tmp, "-c", "1", "-t", "1", "-d", "3s", "-R", "40", "--timeout", "10s", "get", url)
    check(opened["errors"]["total"] == 0, f"open loop errors {opened['errors']}")
    check(opened["requests"] <= 40, f"a 10 req/s server answered {opened['requests']} in 3 s")
    check(opened["latency_us"]["max"] > 1.5e6,
          f"open loop max {opened['latency_us']['max']} us: queueing behind the slow server "
          "was not charged (coordinated omission)")
    check(opened["latency_us"]["p50"] > 5 * closed["latency_us"]["p50"],
          "open loop median not far above the closed loop's")
    srv.shutdown()

    # A listener that never accepts: connects complete in the backlog,
    # requests are written, no answer ever comes.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    t = time.time()
    r, d = run(tmp, "-c", "4", "-t", "1", "-d", "2s", "--timeout", "300ms", "get",
               f"http://127.0.0.1:{s.getsockname()[1]}/")
    check(r.returncode == 1, f"no answer at all: exit {r.returncode}, expected 1")
    check(d["errors"]["timeout"] >= 4, f"timeouts not counted: {d['errors']}")
    check(time.time() - t < 10, "did not finish on time")
    s.close()
    print("ok")


if __name__ == "__main__":
    main()
