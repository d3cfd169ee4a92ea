#!/usr/bin/env python3
"""Two magicd nodes behind real nginx, sharing one key file, one PostgreSQL
and one Redis: the proof of docs/nodes.md "Running several nodes".

Node A and node B are two masters, each with its own config, ports, two
workers, profiler and outbox; the same key file (copied, as an operator
would); `users_db` the one PostgreSQL (services.Postgres, migrated once
with `magicd store migrate`); `rate_limit_store` the one Redis. nginx
listens in front with `upstream magicd { server A; server B; }`: requests
are spread round-robin, and a test-only `X-Node: a|b` header pins one to a
node (a `map` choosing the proxy_pass target) so each step can say which
node served it; nginx names the node that answered in `X-Upstream`.

Proven, each against the running servers:
  1. a link issued through A is redeemed through B (303 and a session);
  2. the same link replayed through A, with the same browser state: 410;
  3. eight concurrent redeems of one link, spread over both nodes: exactly
     one 303, seven 410, one session row in PostgreSQL;
  4. a logout on B: the session is refused by /auth on A within 1 s;
  5. a limit of 5 links per address holds across both nodes (3 + 2 pass,
     the next one on either node gets 429);
  6. a user added with the CLI on A's config signs in through B;
  7. PostgreSQL killed for 5 s during a client loop through nginx: 503s
     (never another error), then full service within 2 s of its return,
     and no worker or master died;
  8. `go tool pprof URL_A URL_B` reads one merged CPU profile with a
     `node` label naming both nodes.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, free_port, skip  # noqa: E402
from nginx_front import NGINX, available, wait_port  # noqa: E402
from services import Postgres, Redis  # noqa: E402
from session_util import link_path, take_meta_token  # noqa: E402

NEWUSER = "added@example.com"


class Node(Magicd):
    """A Magicd whose users_db is the shared PostgreSQL (set after the
    harness' own line: a later directive wins)."""

    def __init__(self, name, pg_url, redis_url, front_url):
        self.name = name
        extra = (f"users_db {pg_url};\nrate_limit_store {redis_url};\n"
                 "rate_limit_store_timeout 1s;\n"
                 f"node_name node-{name};\npublic_url {front_url};\n"
                 "rate_limit_email 5 15m;\nrate_limit_ip 100000 1m;\n"
                 "real_ip_from 127.0.0.1;\n")
        super().__init__(workers=2, extra=extra, users=())


class Pinned(Browser):
    """A Browser talking to nginx, pinned to a node with X-Node."""

    def __init__(self, front, node="a"):
        super().__init__(front)
        self.node = node

    def _hdrs(self, extra=None):
        h = super()._hdrs(extra)
        if self.node:
            h["X-Node"] = self.node
        return h

    def clone(self):
        b = Pinned(self.srv, self.node)
        b.cookies = dict(self.cookies)
        b.csrf = self.csrf
        return b


class Front:
    """nginx with an upstream of both nodes."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, a, b):
        temps = "".join(f"    {k}_temp_path {self.tmp}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = f"""daemon off;
worker_processes 1;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/nginx-error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {self.tmp}/nginx-access.log;
{temps}
    upstream magicd {{
        server 127.0.0.1:{a.port};
        server 127.0.0.1:{b.port};
        keepalive 16;
    }}
    map $http_x_node $magicd_node {{
        default magicd;
        a       127.0.0.1:{a.port};
        b       127.0.0.1:{b.port};
    }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://$magicd_node;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_next_upstream off;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""
        path = os.path.join(self.tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        r = subprocess.run([NGINX, "-t", "-c", path, "-p", self.tmp], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0, f"nginx -t: {r.stderr}")
        self.proc = subprocess.Popen([NGINX, "-c", path, "-p", self.tmp],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "nginx")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def served_by(h, node):
    return h.get("x-upstream", "").endswith(":%d" % node.port)


def new_link(node, n_before):
    links = node.outbox_links()
    check(len(links) == n_before + 1, f"no new link in node {node.name}'s outbox")
    return link_path(links[-1]["link"])


def issue(front, node, email):
    """A browser pinned to node asks for a link; (browser, verify path)."""
    b = Pinned(front, node.name)
    b.login_page()
    n = len(node.outbox_links())
    st, h, body = b.generate(email)
    check(st == 200 and served_by(h, node), f"generate via {node.name}: {st} {h} {body[:200]}")
    path = new_link(node, n)
    st, _, body = b.req("GET", path)
    check(st == 200, f"verify page: {st}")
    take_meta_token(b, body)
    return b, path


def auth_status(front, node, cookies):
    c = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    try:
        c.request("GET", "/auth", headers={
            "X-Node": node.name,
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def point_cross_redeem(front, a, b):
    br, path = issue(front, a, DEMO)
    before = br.clone()  # the browser's state when the link arrived
    br.node = "b"
    st, h, body = br.req("POST", path)
    check(st == 303 and served_by(h, b) and any(k.endswith("session") for k in br.cookies),
          f"1. link from A redeemed via B: {st} {h} {body[:200]}")
    print("ok 1: a link issued through A is redeemed through B")
    before.node = "a"
    st, h, _ = before.req("POST", path)
    check(st == 410 and served_by(h, a), f"2. replay via A: {st}")
    print("ok 2: the replay through A gets 410")


def point_concurrent(front, a, b, pg):
    email = "race@example.com"
    a.run_cli("user", "add", email)
    br, path = issue(front, a, email)
    results = [None] * 8
    go = threading.Event()

    def redeem(i):
        me = br.clone()
        me.node = "ab"[i % 2]
        go.wait()
        st, h, _ = me.req("POST", path)
        results[i] = (st, h.get("x-upstream", ""))

    ts = [threading.Thread(target=redeem, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join(30)
    codes = sorted(r[0] for r in results)
    check(codes == [303] + [410] * 7, f"3. eight concurrent redeems: {results}")
    check({r[1] for r in results} == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"},
          f"3. not spread over both nodes: {results}")
    rows = pg.sql(f"SELECT count(*) FROM sessions WHERE email = '{email}'").strip()
    check(rows == "1", f"3. sessions in PostgreSQL for {email}: {rows}")
    print("ok 3: eight concurrent redeems over both nodes -> one 303, seven 410, one session")


def point_logout(front, a, b):
    email = "logout@example.com"
    a.run_cli("user", "add", email)
    br, path = issue(front, a, email)
    st, _, _ = br.req("POST", path)
    check(st == 303, f"4. sign-in: {st}")
    cookies = dict(br.cookies)
    check(auth_status(front, a, cookies) == 200 and auth_status(front, b, cookies) == 200,
          "4. the session opens /auth on both nodes")
    br.node = "b"
    st, _, body = br.req("GET", "/secure/1")
    take_meta_token(br, body)
    st, h, _ = br.req("POST", "/logout")
    check(st in (200, 303) and served_by(h, b), f"4. logout via B: {st}")
    t0 = time.time()
    while auth_status(front, a, cookies) != 401:
        check(time.time() - t0 < 1.0, "4. the session still opens /auth on A 1 s after logout")
        time.sleep(0.02)
    print("ok 4: a logout on B is refused on A after %.0f ms" % ((time.time() - t0) * 1000))


def point_rate_limit(front, a, b):
    email = "limited@example.com"
    a.run_cli("user", "add", email)
    got = []
    for node in "aabba":
        br = Pinned(front, node)
        br.login_page()
        got.append(br.generate(email)[0])
    check(got == [200] * 5, f"5. the first five links across A and B: {got}")
    for node in "ab":
        br = Pinned(front, node)
        br.login_page()
        st, h, _ = br.generate(email)
        check(st == 429, f"5. the 6th link via {node}: {st}")
    print("ok 5: 5 links per address across both nodes, then 429 on each")


def point_cli_user(front, a, b):
    a.run_cli("user", "add", NEWUSER)
    br, path = issue(front, b, NEWUSER)
    st, h, _ = br.req("POST", path)
    check(st == 303 and served_by(h, b), f"6. {NEWUSER} (added on A) signs in via B: {st}")
    print("ok 6: a user added with the CLI on A signs in through B")


def point_pg_outage(front, a, b, pg):
    # One fresh address per sign-in, so the per-address limit never answers.
    emails = [f"loop{i}@example.com" for i in range(600)]
    path = os.path.join(a.tmp, "loop-users.json")
    with open(path, "w") as f:
        json.dump(emails, f)
    a.run_cli("user", "import", path)
    nodes = {f"127.0.0.1:{n.port}": n for n in (a, b)}
    pids = {n.name: (n.proc.pid, set(n.worker_pids())) for n in (a, b)}
    log = []  # (time, step, status)
    stop = threading.Event()

    def sign_in(e):
        """The whole flow through nginx (spread over both nodes)."""
        br = Pinned(front, None)
        st, _, _ = br.req("GET", "/login")
        if st != 200:
            return "login", st
        counts = {k: len(n.outbox_links()) for k, n in nodes.items()}
        st, h, _ = br.generate(e)
        if st != 200:
            return "generate", st
        n = nodes.get(h.get("x-upstream", ""))
        if not n or len(n.outbox_links()) != counts[h["x-upstream"]] + 1:
            return "generate", "no link in the serving node's outbox"
        link = link_path(n.outbox_links()[-1]["link"])
        st, _, body = br.req("GET", link)
        if st != 200:
            return "verify page", st
        take_meta_token(br, body)
        st, _, _ = br.req("POST", link)
        return "verify", st

    def client():
        for e in emails:
            if stop.is_set():
                break
            try:
                step, st = sign_in(e)
            except OSError as ex:
                step, st = "error", str(ex)
            log.append((time.time(), step, st))
            # A 503 comes back at once: slower retries while the database
            # is down, so the addresses last until well after it is back.
            time.sleep(0.1 if st == 503 else 0.01)

    t = threading.Thread(target=client)
    t.start()
    time.sleep(2)
    down = time.time()
    pg.stop("immediate")
    time.sleep(5)
    pg.start()
    up = time.time()
    time.sleep(4)
    stop.set()
    t.join(60)
    before = [x for x in log if x[0] < down]
    during = [x for x in log if down + 0.5 < x[0] < up]
    after = [x for x in log if x[0] > up + 2]
    ok = {("verify", 303)}
    bad = [x for x in log if x[1:] not in ok and x[2] != 503]
    check(not bad, f"7. answers other than a sign-in or 503: {bad[:10]}")
    check(before and all(x[1:] in ok for x in before),
          f"7. before the outage: {[x for x in before if x[1:] not in ok][:10]}")
    check(any(x[2] == 503 for x in during), f"7. no 503 while PostgreSQL was down: {during[:20]}")
    check(after and all(x[1:] in ok for x in after),
          f"7. not full service 2 s after PostgreSQL came back: {after[:20]}")
    for n in (a, b):
        check(n.proc.poll() is None and (n.proc.pid, set(n.worker_pids())) == pids[n.name],
              f"7. node {n.name}: a process died or restarted")
    print("ok 7: PostgreSQL down 5 s: %d sign-ins before, %d x 503 during, %d sign-ins after "
          "(from 2 s after its return), no crash"
          % (len(before), sum(1 for x in during if x[2] == 503), len(after)))


def point_pprof(front, a, b):
    if not shutil.which("go"):
        print("skip 8: go (golang-go) is not installed")
        return
    stop = threading.Event()

    def load():
        n = 0
        while not stop.is_set() and n < 5000:
            n += 1
            for path in ("/login", "/healthz"):
                c = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
                try:
                    c.request("GET", path)
                    c.getresponse().read()
                except OSError:
                    pass
                finally:
                    c.close()

    ts = [threading.Thread(target=load) for _ in range(3)]
    for t in ts:
        t.start()
    d = tempfile.mkdtemp(prefix="magicd-pprof-")
    try:
        env = dict(os.environ, PPROF_BINARY_PATH=d, HOME=d, PPROF_TMPDIR=d,
                   GOCACHE=os.path.join(d, "gocache"))
        urls = [f"http://127.0.0.1:{n.pport}/debug/pprof/profile?seconds=3" for n in (a, b)]
        r = subprocess.run(["go", "tool", "pprof", "-tags"] + urls, cwd=d, env=env,
                           capture_output=True, text=True, timeout=180)
    finally:
        stop.set()
        for t in ts:
            t.join(30)
        shutil.rmtree(d, ignore_errors=True)
    check(r.returncode == 0, f"8. go tool pprof URL_A URL_B: {r.stderr[-2000:]}")
    part = r.stdout.split("node:", 1)[1] if "node:" in r.stdout else ""
    part = re.split(r"^\s*\w+:\s", part, maxsplit=1, flags=re.M)[0]
    nodes = set(re.findall(r"\): (\S+)$", part, re.M))
    check(nodes == {"node-a", "node-b"}, f"8. node labels in the merged profile: {nodes}\n"
          + r.stdout[:1500])
    print("ok 8: go tool pprof URL_A URL_B: one profile, node label node-a and node-b")


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    why = available()
    if why:
        skip(why)
    with Postgres() as pg, Redis() as r:
        tmp = tempfile.mkdtemp(prefix="magicd-front-")
        front = Front(tmp)
        a = Node("a", pg.url, r.url, front.url)
        b = Node("b", pg.url, r.url, front.url)
        shutil.copyfile(os.path.join(a.tmp, "magicd.key"), os.path.join(b.tmp, "magicd.key"))
        out = a.run_cli("store", "migrate")
        check(out.returncode == 0, f"store migrate: {out.stderr}")
        a.run_cli("user", "add", DEMO)
        try:
            with a, b:
                front.start(a, b)
                run(front, a, b, pg)
        finally:
            front.stop()
            for d in (a.tmp, b.tmp, tmp):
                shutil.rmtree(d, ignore_errors=True)
    print("ok")


def run(front, a, b, pg):
    point_cross_redeem(front, a, b)
    point_concurrent(front, a, b, pg)
    point_logout(front, a, b)
    point_rate_limit(front, a, b)
    point_cli_user(front, a, b)
    point_pprof(front, a, b)
    point_pg_outage(front, a, b, pg)


if __name__ == "__main__":
    main()
