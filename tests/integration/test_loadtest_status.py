"""loadtest counts answers with a failing status as failures.

Against the shipped config (conf/magicd.conf: 30 generate requests per IP
per minute) nearly every answer of a generate load is a 429. Those are
failures: the text summary shows them in its error count and on a failures
line, and --json counts them in errors.status and errors.total, so a
consumer that checks errors.total == 0 fails.

conf/profiling.conf, the config the profiling workflow uses, measures what
it claims: the shipped config with the rate limits lifted and the links
written to an outbox, so the same load is all 200s, every one of them a
link sealed and delivered."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, LOADTEST, ROOT, Magicd, check, free_port, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")


def load(tmp, port, name):
    emails = os.path.join(tmp, "emails.txt")
    with open(emails, "w") as f:
        f.write(DEMO + "\n")
    out = os.path.join(tmp, f"{name}.json")
    cmd = [LOADTEST, "-c", "4", "-t", "1", "-d", "2s", "-q", "--json", out, "--emails", emails,
           "generate", f"http://127.0.0.1:{port}/"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    check(r.returncode == 0, f"{name}: loadtest exit {r.returncode}")
    with open(out) as f:
        return json.load(f), r.stdout


def shipped(tmp, conf_name):
    """Run the shipped config file from a copy of conf/ and html/, on free
    ports, with its own state (relative paths resolve in the copy)."""
    shutil.copytree(os.path.join(ROOT, "conf"), os.path.join(tmp, "conf"),
                    ignore=shutil.ignore_patterns("run"))
    shutil.copytree(os.path.join(ROOT, "html"), os.path.join(tmp, "html"))
    port = free_port()
    g = (f"listen 127.0.0.1:{port}; profiler off; html_root {ROOT}/html; "
         f"error_log {tmp}/error.log info;")
    conf = os.path.join(tmp, "conf", conf_name)
    srv = Magicd.__new__(Magicd)  # the harness's process handling, our own config
    srv.tmp, srv.port, srv.workers, srv.conf = tmp, port, 1, conf
    srv.error_log, srv.proc = os.path.join(tmp, "error.log"), None
    os.makedirs(os.path.join(tmp, "conf", "run"), exist_ok=True)
    for args in (["keygen"], ["user", "add", DEMO]):
        r = subprocess.run([BIN, "-c", conf, "-g", g] + args, capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 0, f"{conf_name}: {args}: {r.stderr}")
    srv.stdout_path = os.path.join(tmp, "stdout.log")
    srv.proc = subprocess.Popen([BIN, "-c", conf, "-g", g + " worker_processes 1;"],
                                stdout=open(srv.stdout_path, "ab"), stderr=subprocess.STDOUT)
    return srv


def main():
    # The shipped config: the rate limiter answers.
    tmp = tempfile.mkdtemp(prefix="magicd-lt-status-")
    srv = shipped(tmp, "magicd.conf")
    try:
        srv.wait_ready()
        d, text = load(tmp, srv.port, "shipped")
    finally:
        srv.stop()
    bad = sum(n for s, n in d["status"].items() if not 200 <= int(s) < 400)
    check(d["status"].get("429", 0) > 0, f"the shipped limits answer 429: {d['status']}")
    check(d["errors"].get("status") == bad, f"errors.status counts non-2xx/3xx: {d['errors']}")
    check(d["errors"]["total"] >= bad > 0, f"errors.total includes them: {d['errors']}")
    m = re.search(r"^\s*errors\s+(\d+)", text, re.M)
    check(m and int(m.group(1)) >= bad, f"the summary's error count includes them:\n{text}")
    check(re.search(r"^\s*failures\s+%d\b.*429" % bad, text, re.M),
          f"the summary has a failures line naming the statuses:\n{text}")
    shutil.rmtree(tmp, ignore_errors=True)

    # The profiling config: the same load, all served, all links delivered.
    tmp = tempfile.mkdtemp(prefix="magicd-lt-status-")
    check(os.path.exists(os.path.join(ROOT, "conf", "profiling.conf")), "conf/profiling.conf")
    srv = shipped(tmp, "profiling.conf")
    try:
        srv.wait_ready()
        d, text = load(tmp, srv.port, "profiling")
    finally:
        srv.stop()
    check(set(d["status"]) == {"200"}, f"profiling.conf: all 200: {d['status']}")
    check(d["errors"]["total"] == 0 and d["errors"].get("status") == 0,
          f"profiling.conf: no failures: {d['errors']}")
    check(not re.search(r"^\s*failures", text, re.M), f"no failures line:\n{text}")
    outbox = [ln for ln in open(os.path.join(tmp, "conf", "run", "outbox.jsonl"))]
    posts = d["requests_by_kind"]["POST /magic/generate"]
    # The server may have answered a few more than loadtest counted: those in
    # flight when the run ended (at most one per connection).
    check(posts <= len(outbox) <= posts + 4,
          f"every generate delivered a link: {len(outbox)} links, {posts} answers")
    shutil.rmtree(tmp, ignore_errors=True)
    print("loadtest status ok")


if __name__ == "__main__":
    main()
