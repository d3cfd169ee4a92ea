"""A worker that dies at start keeps being replaced, but with a back-off
(250 ms doubling), not in a tight fork loop; once the cause is gone the
master brings it back and the other worker served throughout."""
import os
import re
import shutil
import signal
import time
from harness import Magicd, ROOT, check

srv = Magicd(workers=2)
html = os.path.join(srv.tmp, "html")
shutil.copytree(os.path.join(ROOT, "html"), html)
srv.extra = f"html_root {html};"
srv.write_conf()
with srv:
    # Templates gone: a new worker cannot start (exit 2) until they are back.
    os.rename(html, html + ".away")
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(3.5)
    log = srv.log()
    starts = log.count("worker cannot start")
    delays = [int(d) for d in re.findall(r"crashed \d+ time\(s\) in a row, respawning in (\d+) ms", log)]
    check(2 <= starts <= 6, f"back-off bounds the restarts in 3.5 s: {starts} attempts")
    check(len(delays) >= 2 and all(b > a for a, b in zip(delays, delays[1:])),
          f"back-off grows: {delays}")
    for _ in range(10):
        st, _, _ = srv.request("GET", "/healthz")
        check(st == 200, "the other worker keeps serving")
    os.rename(html + ".away", html)
    end = time.time() + 10
    while time.time() < end and len(srv.worker_pids()) < 2:
        time.sleep(0.1)
    check(len(srv.worker_pids()) == 2, "worker back once the cause is fixed")
    st, _, body = srv.request("GET", "/login")
    check(st == 200, "serving pages again")
print("crash loop ok")
