"""The asynchronous PostgreSQL pool (core/pgc.h) against a real server.

Runs build/tests/core/test_pgc (tests/unit/core/test_pgc.c) with a
throwaway PostgreSQL (services.Postgres):
  - concurrency: 20 pg_sleep(0.3) on a pool of 4 finish in ~1.5 s while a
    10 ms timer in the same loop keeps firing; a query past the statement
    timeout fails with an error on time, and the pool stays usable;
  - outage: the server is stopped while the program sends a query every
    50 ms (they must fail, not hang, and the loop must keep running), then
    started again: a query must succeed within 2 s of its return.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, check  # noqa: E402
from services import Postgres  # noqa: E402

BUILD = os.path.dirname(os.path.abspath(os.path.join(ROOT, os.environ.get(
    "MAGICD_BIN", "build/magicd"))))
PROG = os.path.join(BUILD, "tests", "core", "test_pgc")


def main():
    if not os.path.exists(PROG):
        subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + BUILD, PROG], check=True,
                       timeout=300)
    with Postgres() as pg:
        env = dict(os.environ, MAGICD_TEST_PG_URL=pg.url)
        r = subprocess.run([PROG, "concurrency"], env=env, capture_output=True, text=True,
                           timeout=60)
        print(r.stdout, r.stderr)
        check(r.returncode == 0, "concurrency: exit %d" % r.returncode)

        log = os.path.join(pg.tmp, "outage.log")
        p = subprocess.Popen([PROG, "outage"], env=env, stdin=subprocess.PIPE,
                             stdout=open(log, "w"), stderr=subprocess.STDOUT)
        try:
            end = time.time() + 15
            while time.time() < end and "READY" not in open(log).read() and p.poll() is None:
                time.sleep(0.05)
            check("READY" in open(log).read(), "outage: not ready: " + open(log).read())
            time.sleep(0.3)
            t = time.time()
            pg.stop("fast")
            print("postgres stopped in %.1f s" % (time.time() - t))
            time.sleep(2)
            t = time.time()
            pg.start()
            print("postgres started in %.1f s" % (time.time() - t))
            p.stdin.write(b"UP\n")
            p.stdin.flush()
            p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = open(log).read()
        print(out)
        check(p.returncode == 0, "outage: exit %d" % p.returncode)
    print("ok")


if __name__ == "__main__":
    main()
