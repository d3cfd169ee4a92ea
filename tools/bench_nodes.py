#!/usr/bin/env python3
"""bench_nodes - the PostgreSQL store against the SQLite store, same machine,
same run (tools/bench-nodes.sh runs this).

One magicd node (WORKERS workers) is measured twice with the same config
but its users_db: first a SQLite file, then a throwaway PostgreSQL cluster
on loopback (tests/integration/services.py: initdb in a temporary
directory), with pg_stat_statements loaded to count the statements. Each store
gets two closed-loop runs of build/loadtest at CONNS connections:

  generate  GET /login once, then POST /magic/generate repeatedly (the user
            lookup; the link goes out by `delivery response`);
  login     the whole flow: generate, verify (the redeem INSERT, the
            session record, the user's groups), the secure page.

Rate limits are lifted (the limiter is not what is measured). Printed:
requests/s of each run per store, the ratio PostgreSQL / SQLite (target:
>= 0.5x per node at 100 connections) and the statements PostgreSQL ran per
request (pg_stat_statements calls / requests of that kind). PostgreSQL runs
with fsync off and SQLite with its own durability settings as shipped,
so the comparison is of the round trips, not of two disks.

Environment: WORKERS (2), CONNS (100), DURATION (10 s), ROUNDS (2); the
FIGURE lines give the mean over the rounds.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from services import Postgres  # noqa: E402

BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("MAGICD_BIN", "build/magicd")))
LOADTEST = os.path.join(ROOT, "build", "loadtest")
WORKERS = int(os.environ.get("WORKERS", "2"))
CONNS = int(os.environ.get("CONNS", "100"))
DURATION = int(os.environ.get("DURATION", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run_cli(conf, *args):
    r = subprocess.run([BIN, "-c", conf] + list(args), capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        sys.exit(f"bench-nodes: magicd {' '.join(args)}: {r.stderr}")
    return r.stdout


class Node:
    def __init__(self, tmp, users_db, emails_file):
        self.tmp = tmp
        self.port = port()
        self.conf = os.path.join(tmp, "magicd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""worker_processes {WORKERS};
worker_connections 4096;
listen 127.0.0.1:{self.port};
profiler off;
pid {tmp}/magicd.pid;
error_log {tmp}/error.log warn;
access_log off;
html_root {ROOT}/html;
public_url http://127.0.0.1:{self.port};
key_file {tmp}/magicd.key;
users_db {users_db};
delivery response;
rate_limit_ip 1000000000 1m;
rate_limit_email 1000000000 1m;
""")
        self.emails_file = emails_file
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([BIN, "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.tmp, "stderr.log"), "w"))
        end = time.time() + 20
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("bench-nodes: magicd did not start:\n" + open(os.path.join(
            self.tmp, "error.log")).read()[-2000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def load(self, scenario):
        out = os.path.join(self.tmp, f"{scenario}.json")
        r = subprocess.run([LOADTEST, "-q", "-c", str(CONNS), "-d", f"{DURATION}s",
                            "--emails", self.emails_file, "--json", out, scenario,
                            f"http://127.0.0.1:{self.port}/"],
                           capture_output=True, text=True, timeout=DURATION + 120)
        if r.returncode != 0:
            sys.exit(f"bench-nodes: loadtest {scenario}: {r.stderr[-2000:]}")
        j = json.load(open(out))
        if j["errors"]["total"] or j["flow_errors"]["total"]:
            sys.exit(f"bench-nodes: {scenario} had errors: {j['errors']} {j['flow_errors']} "
                     f"{j['status']}")
        return j


def kind(j, prefix):
    return sum(v for k, v in j["requests_by_kind"].items() if k.startswith(prefix))


def measure(node, pg=None):
    """{scenario: (requests/s, statements per generate or per flow)}"""
    res = {}
    for sc in ("generate", "login"):
        if pg:
            pg.sql("SELECT pg_stat_statements_reset()")
        j = node.load(sc)
        rps = j["requests_per_sec"]
        per = None
        if pg:
            calls = int(pg.sql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                               "JOIN pg_database d ON d.oid = s.dbid "
                               "WHERE d.datname = 'magicd' "
                               "AND s.query NOT LIKE '%pg_stat_statements%'").strip())
            unit = kind(j, "POST /magic/generate") if sc == "generate" else \
                kind(j, "POST /magic/verify")
            per = calls / unit if unit else None
            if sc == "login":  # which statements, per sign-in
                top = pg.sql("SELECT s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) "
                             "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                             "WHERE d.datname = 'magicd' "
                             "AND s.query NOT LIKE '%pg_stat_statements%' "
                             "ORDER BY s.calls DESC LIMIT 8")
                for line in top.splitlines():
                    c, _, q = line.partition("|")
                    if unit:
                        print(f"    {int(c) / unit:5.2f} per sign-in  {q}", flush=True)
        signins = kind(j, "POST /magic/verify") / j["duration_s"]
        res[sc] = (rps, per, signins)
    return res


def main():
    for p in (BIN, LOADTEST):
        if not os.path.exists(p):
            sys.exit(f"bench-nodes: {p} not built")
    tmp = tempfile.mkdtemp(prefix="magicd-bench-nodes-", dir=os.environ.get("BENCH_TMP"))
    emails = [f"bench{i}@example.com" for i in range(max(CONNS, 100))]
    ef = os.path.join(tmp, "emails")
    with open(ef, "w") as f:
        f.write("\n".join(emails) + "\n")
    jf = os.path.join(tmp, "users.json")
    with open(jf, "w") as f:
        json.dump(emails, f)
    pg = Postgres()
    try:
        with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
            f.write("shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = top\n")
        pg.stop()
        pg.start()
        pg.sql("CREATE EXTENSION pg_stat_statements")
        nodes = {}
        for name, db in (("sqlite", os.path.join(tmp, "sqlite", "users.db")), ("pg", pg.url)):
            d = os.path.join(tmp, name)
            os.makedirs(d, exist_ok=True)
            n = Node(d, db, ef)
            if name == "pg":
                shutil.copyfile(os.path.join(tmp, "sqlite", "magicd.key"),
                                os.path.join(d, "magicd.key"))
                os.chmod(os.path.join(d, "magicd.key"), 0o600)
                run_cli(n.conf, "store", "migrate")
            else:
                run_cli(n.conf, "keygen")
            run_cli(n.conf, "user", "import", jf)
            nodes[name] = n
        print(f"== PostgreSQL vs SQLite store: one node, {WORKERS} workers, {CONNS} connections, "
              f"{DURATION}s per run, {ROUNDS} rounds, loadtest closed loop", flush=True)
        best = {}  # scenario -> [(sqlite rps, pg rps, statements per unit)] by round
        for r in range(1, ROUNDS + 1):
            got = {}
            for name in ("sqlite", "pg"):
                n = nodes[name]
                n.start()
                try:
                    got[name] = measure(n, pg if name == "pg" else None)
                finally:
                    n.stop()
            for sc in ("generate", "login"):
                s_rps, p_rps = got["sqlite"][sc][0], got["pg"][sc][0]
                per = got["pg"][sc][1]
                what = "statements per generate" if sc == "generate" else \
                    "statements per sign-in (generate + verify + secure page)"
                extra = ""
                if sc == "login":
                    extra = (f"   sign-ins/s {got['sqlite'][sc][2]:.0f} vs "
                             f"{got['pg'][sc][2]:.0f}")
                print(f"round {r}: {sc:8s} SQLite {s_rps:7.0f} req/s   PostgreSQL {p_rps:7.0f} "
                      f"req/s   ratio {p_rps / s_rps:.2f}x (target >= 0.5)   "
                      f"{what}: {per if per is not None else float('nan'):.2f}{extra}",
                      flush=True)
                best.setdefault(sc, []).append((s_rps, p_rps, per))
        for sc, key, what in (("generate", "pg-generate", "POST /magic/generate, PostgreSQL "
                               "store vs SQLite, req/s per node (2 workers, 100 conns)"),
                              ("login", "pg-login", "sign-in flow (generate, verify, secure), "
                               "PostgreSQL store vs SQLite, req/s per node")):
            runs = best[sc]  # the mean over the rounds
            s_rps = sum(x[0] for x in runs) / len(runs)
            p_rps = sum(x[1] for x in runs) / len(runs)
            per = sum(x[2] or 0 for x in runs) / len(runs)
            ratio = p_rps / s_rps
            print(f"FIGURE|{key}|{what}; {per:.2f} statements per "
                  f"{'generate' if sc == 'generate' else 'sign-in'}|{p_rps:.0f} req/s|"
                  f"{s_rps:.0f} req/s|{ratio:.2f}")
    finally:
        for n in locals().get("nodes", {}).values():
            n.stop()
        pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
