"""The server on a PostgreSQL store: the workers' asynchronous path.

A throwaway PostgreSQL on loopback (services.Postgres), the real
build/magicd with two workers and `users_db postgresql://...`, and real
HTTP clients. Proves:
  - the whole flow: login -> generate -> verify -> /auth -> logout, with
    the session, its revocation and the auth events written in PostgreSQL,
    and the logged-out cookie refused;
  - the sign-in code: tries counted in PostgreSQL, the 5th wrong one
    locks code and link;
  - a redeem race: 8 concurrent verifies of one link give exactly one
    session (one INSERT ... ON CONFLICT DO NOTHING wins), the rest 410;
  - `magicd session revoke-all` from the command line is refused by the
    workers within 1 s (NOTIFY magicd_revoked into the shared set);
  - a user added with the command line can sign in within milliseconds
    although the workers had cached "no account" for the address (NOTIFY
    magicd_users), bounded at 1 s; removed, its session and its links stop
    within 1 s;
  - a slow database (pg_sleep in a trigger on the ledger) stalls only the
    requests that need it: GET /login, /healthz and /auth keep their
    latency, and a client that hangs up while parked crashes nothing;
  - PostgreSQL stopped: generate, verify and the code answer 503 "Sign-in
    is temporarily unavailable", /healthz 503 with the store down, /auth
    still 200 for a session it can check locally; started again: sign-in
    works within 2 s, no worker was lost;
  - with the shared revocation set full, /auth asks PostgreSQL for the
    session it cannot vouch for; with the database down auth_store_down
    decides (closed 503, open 200).
"""
import html
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEMO, Browser, check  # noqa: E402
from services import PgMagicd, Postgres  # noqa: E402
from session_util import ask, conn_per_worker, link_path, sign_in, take_meta_token  # noqa: E402

NEWBIE = "newbie@example.com"


def auth(srv, b):
    st, h, _ = srv.request("GET", "/auth", headers={
        "Cookie": "; ".join(f"{k}={v}" for k, v in b.cookies.items())})
    return st, h


def timed(fn):
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def new_link(srv, b, email=DEMO):
    b.login_page()
    n = len(srv.outbox_links())
    st, _, body = b.generate(email)
    check(st == 200, f"generate: {st} {body[:300]}")
    links = srv.outbox_links()
    check(len(links) == n + 1, "no new link in the outbox")
    return link_path(links[-1]["link"])


def test_flow(srv, pg):
    t0 = time.monotonic()
    while srv.log().count("listening for user and session changes") < srv.workers:
        check(time.monotonic() - t0 < 5, "the workers do not LISTEN:\n" + srv.log())
        time.sleep(0.05)
    b, _ = sign_in(srv, DEMO)
    st, h = auth(srv, b)
    check(st == 200 and h.get("x-auth-request-email") == DEMO, f"/auth: {st} {h}")
    check(pg.sql("SELECT count(*) FROM sessions WHERE email = '%s' AND revoked_at IS NULL"
                 % DEMO).strip() == "1", "no active session row in PostgreSQL")
    copied = dict(b.cookies)
    st, _, body = b.req("GET", "/secure/1")
    take_meta_token(b, body)
    st, _, body = b.req("POST", "/logout")
    check(st == 303, f"logout: {st} {body[:200]}")
    thief = Browser(srv)
    thief.cookies = copied
    st, _ = auth(srv, thief)
    check(st == 401, f"/auth with the logged-out cookie: {st}")
    check(pg.sql("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL").strip() == "1",
          "the logout is not recorded in PostgreSQL")
    time.sleep(0.3)
    ev = pg.sql("SELECT event_type FROM auth_events ORDER BY id").split()
    check("login" in ev and "logout" in ev, f"auth events: {ev}")
    print("flow: login, generate, verify, /auth, logout against PostgreSQL ok")


def code_ticket(body):
    m = re.search(rb'name="ticket"[^>]*value="([^"]+)"', body) or \
        re.search(rb'value="([^"]+)"[^>]*name="ticket"', body)
    check(m, "no ticket in the sent page")
    return html.unescape(m.group(1).decode())


def send_code(b, ticket, code):
    return b.req("POST", "/magic/code", urllib.parse.urlencode({"ticket": ticket, "code": code}),
                 {"Content-Type": "application/x-www-form-urlencoded"})


def test_code(srv, pg):
    for n_wrong in (2, 5):
        b = Browser(srv)
        b.login_page()
        st, _, body = b.generate(DEMO)
        check(st == 200, f"generate: {st}")
        d = srv.outbox_links()[-1]
        ticket = code_ticket(body)
        bad = "%06d" % ((int(d["code"]) + 1) % 1000000)
        for i in range(n_wrong):
            st, _, body = send_code(b, ticket, bad)
            want = 403 if i < 4 else 410
            check(st == want, f"wrong code #{i + 1}: {st} {body[:300]}")
        st, _, body = send_code(b, ticket, d["code"])
        if n_wrong < 5:
            check(st == 303, f"right code after {n_wrong} wrong: {st} {body[:300]}")
        else:
            check(st == 410 and b"Too many" in body, f"right code after 5 wrong: {st}")
            st, _, body = b.req("POST", link_path(d["link"]))
            check(st == 410, f"the link of a locked code: {st}")
    tries = pg.sql("SELECT max(tries) FROM code_tries").strip()
    check(tries == "5", f"code tries in PostgreSQL: {tries}")
    print("code: tries counted in PostgreSQL, the 5th wrong one locks code and link")


def test_race(srv, pg):
    b = Browser(srv)
    path = new_link(srv, b)
    st, _, body = b.req("GET", path)
    take_meta_token(b, body)
    before = int(pg.sql("SELECT count(*) FROM sessions").strip())
    hdrs = {"Cookie": "; ".join(f"{k}={v}" for k, v in b.cookies.items()),
            "X-CSRF-Token": b.csrf}
    results = []
    go = threading.Barrier(8)

    def one():
        go.wait()
        st, _, _ = srv.request("POST", path, headers=hdrs)
        results.append(st)

    ts = [threading.Thread(target=one) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    after = int(pg.sql("SELECT count(*) FROM sessions").strip())
    check(sorted(results) == [303] + [410] * 7, f"8 verifies of one link: {sorted(results)}")
    check(after == before + 1, f"sessions created by the race: {after - before}")
    print("race: 8 concurrent verifies -> 1 session, 7 x 410")


def test_cli_revoke(srv):
    b, _ = sign_in(srv, DEMO)
    conns = conn_per_worker(srv)
    for pid, c in conns.items():
        check(ask(c, "GET", "/auth", b.cookies)[0] == 200, f"/auth on worker {pid} before")
    srv.run_cli("session", "revoke-all", DEMO)
    t0 = time.monotonic()
    took = {}
    while len(took) < len(conns):
        for pid, c in conns.items():
            if pid not in took and ask(c, "GET", "/auth", b.cookies)[0] == 401:
                took[pid] = time.monotonic() - t0
        check(time.monotonic() - t0 < 1.0,
              f"revoke-all from the CLI not in force on every worker within 1 s: {took}")
        time.sleep(0.005)
    for c in conns.values():
        c.close()
    print("cli revoke: refused by every worker after " +
          ", ".join("%.0f ms" % (t * 1000) for t in sorted(took.values())))


def test_cli_add(srv):
    b = Browser(srv)
    b.login_page()
    for _ in range(6):  # both workers cache "no account"
        n = len(srv.outbox_links())
        st, _, _ = b.generate(NEWBIE)
        check(st == 200 and len(srv.outbox_links()) == n, "a link for an unknown address")
    srv.run_cli("user", "add", NEWBIE)
    # The NOTIFY is sent at the CLI's commit and reaches the workers a few
    # ms later; a request in that window may still get the decoy.
    t0 = time.monotonic()
    tries = 0
    while True:
        n = len(srv.outbox_links())
        st, _, _ = b.generate(NEWBIE)
        tries += 1
        check(st == 200, f"generate: {st}")
        if len(srv.outbox_links()) == n + 1:
            break
        check(time.monotonic() - t0 < 1.0,
              "a user added with the CLI got no link within 1 s (stale cache)")
        time.sleep(0.005)
    waited = time.monotonic() - t0
    b2, _ = sign_in(srv, NEWBIE)
    check(auth(srv, b2)[0] == 200, "the new user's session")
    # And removed: the session dies (trigger -> NOTIFY magicd_revoked) and
    # the cached "has an account" is dropped (NOTIFY magicd_users).
    srv.run_cli("user", "remove", NEWBIE)
    t0 = time.monotonic()
    while auth(srv, b2)[0] != 401:
        check(time.monotonic() - t0 < 1.0, "a removed user's session still works after 1 s")
        time.sleep(0.005)
    while True:
        n = len(srv.outbox_links())
        b.generate(NEWBIE)
        if len(srv.outbox_links()) == n:
            break
        check(time.monotonic() - t0 < 1.0, "a removed user still gets links after 1 s")
        time.sleep(0.005)
    print("cli add: the new user gets a link %.0f ms after `user add` returned (%d tries)"
          % (waited * 1000, tries))


def test_slow(srv, pg):
    b, _ = sign_in(srv, DEMO)
    pg.sql("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
           "$$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$;"
           "CREATE TRIGGER slow BEFORE INSERT ON used_links FOR EACH ROW EXECUTE FUNCTION slow()")
    pids = srv.worker_pids()
    done = []
    vb = [Browser(srv) for _ in range(6)]
    paths = [new_link(srv, x) for x in vb]

    def verify(x, path):
        st, _, body = x.req("GET", path)
        take_meta_token(x, body)
        st, _, _ = x.req("POST", path)
        done.append(st)

    ts = [threading.Thread(target=verify, args=(x, p)) for x, p in zip(vb[:4], paths[:4])]
    for t in ts:
        t.start()
    # Two clients hang up while parked on the slow statement.
    for x, p in zip(vb[4:], paths[4:]):
        st, _, body = x.req("GET", p)
        take_meta_token(x, body)
        s = socket.create_connection(("127.0.0.1", srv.port))
        cookie = "; ".join(f"{k}={v}" for k, v in x.cookies.items())
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nX-CSRF-Token: %s\r\n"
                   "Content-Length: 0\r\n\r\n" % (p, cookie, x.csrf)).encode())
        s.close()
    time.sleep(0.2)
    worst, lat = {}, {}
    for _ in range(10):
        for name, fn in (("login", lambda: srv.request("GET", "/login")[0]),
                         ("healthz", lambda: srv.request("GET", "/healthz")[0]),
                         ("auth", lambda: auth(srv, b)[0])):
            st, dt = timed(fn)
            check(st == 200, f"{name} while the database is slow: {st}")
            worst[name] = max(worst.get(name, 0), dt)
            lat.setdefault(name, []).append(dt)
        time.sleep(0.05)
    for t in ts:
        t.join()
    check(sorted(done) == [303] * 4, f"the slow verifies: {done}")
    # A loop blocked on the 1.5 s statement would hold every one of these
    # for up to 1.5 s; a busy shared machine adds tens of ms at worst.
    med = {k: sorted(v)[len(v) // 2] for k, v in lat.items()}
    for name in worst:
        check(med[name] < 0.05 and worst[name] < 0.75,
              f"{name} stalled by a slow database: median {med[name] * 1000:.0f} ms, "
              f"worst {worst[name] * 1000:.0f} ms")
    pg.sql("DROP TRIGGER slow ON used_links; DROP FUNCTION slow()")
    time.sleep(1.6)
    check(set(srv.worker_pids()) == set(pids), "a worker died (client gone while parked)")
    print("slow database: latency while 4 redeems are parked (median/worst): " +
          ", ".join(f"{k} {med[k] * 1000:.1f}/{worst[k] * 1000:.1f} ms" for k in sorted(worst)))


def test_outage(srv, pg):
    b, _ = sign_in(srv, DEMO)
    pending = Browser(srv)
    path = new_link(srv, pending)
    st, _, body = pending.req("GET", path)
    take_meta_token(pending, body)
    pids = srv.worker_pids()
    conns = conn_per_worker(srv)
    pg.stop()
    time.sleep(0.3)
    for pid, c in conns.items():
        st, _, body = ask(c, "GET", "/healthz", None)
        check(st == 503 and b"down" in body, f"/healthz on worker {pid}: {st} {body}")
    g = Browser(srv)
    g.login_page()
    st, h, body = g.generate(DEMO)
    check(st == 503 and b"temporarily unavailable" in body,
          f"generate with PostgreSQL stopped: {st} {body[:300]}")
    st, _, body = pending.req("POST", path)
    check(st == 503 and b"temporarily unavailable" in body,
          f"verify with PostgreSQL stopped: {st} {body[:300]}")
    st, _, body = srv.request("GET", "/healthz")
    check(st == 503 and b"down" in body, f"/healthz with PostgreSQL stopped: {st} {body}")
    st, h = auth(srv, b)
    check(st == 200 and h.get("x-auth-request-email") == DEMO,
          f"/auth for a known session with PostgreSQL stopped: {st}")
    st, _, _ = srv.request("GET", "/login")
    check(st == 200, f"/login with PostgreSQL stopped: {st}")
    pg.start()
    # Every worker reconnects on its own: each must answer again.
    t0 = time.monotonic()
    back = {}
    while len(back) < len(conns):
        for pid, c in conns.items():
            if pid not in back and ask(c, "GET", "/healthz", None)[0] == 200:
                back[pid] = time.monotonic() - t0
        check(time.monotonic() - t0 < 2.0, f"a worker's store not back within 2 s: {back}")
        time.sleep(0.02)
    while g.generate(DEMO)[0] != 200:
        check(time.monotonic() - t0 < 2.0, "sign-in did not resume within 2 s")
        time.sleep(0.02)
    resumed = time.monotonic() - t0
    st, _, _ = pending.req("POST", path)  # the link mailed before the outage still works
    check(st == 303, f"verify after the outage: {st}")
    check(srv.request("GET", "/healthz")[0] == 200, "/healthz after the outage")
    check(set(srv.worker_pids()) == set(pids), "a worker died during the outage")
    for c in conns.values():
        c.close()
    print("outage: 503s while stopped; after the restart every worker back within " +
          ", ".join("%.0f ms" % (t * 1000) for t in sorted(back.values())) +
          ", sign-in %.0f ms" % (resumed * 1000))


def test_set_full(srv, pg):
    """A session the shared revocation set cannot vouch for (the set is
    full) is asked of PostgreSQL; with the database down auth_store_down
    decides: closed (the default) 503, open 200."""
    b, _ = sign_in(srv, DEMO)
    gone, _ = sign_in(srv, DEMO)
    gone.req("GET", "/secure/1")
    st, _, body = gone.req("GET", "/secure/1")
    take_meta_token(gone, body)
    check(gone.req("POST", "/logout")[0] == 303, "logout")
    n0 = srv.log().count("session revocation set full")
    pg.sql("INSERT INTO session_revocations(id, expires_at) SELECT decode(md5(i::text), 'hex'), "
           "4102444800 FROM generate_series(1, 13000) i")
    t0 = time.monotonic()
    while srv.log().count("session revocation set full") == n0:
        check(time.monotonic() - t0 < 15, "the revocation log was not read into the set")
        time.sleep(0.1)
    st, h = auth(srv, b)
    check(st == 200 and h.get("x-auth-request-email") == DEMO,
          f"/auth for a session the full set cannot vouch for, database up: {st}")
    check(auth(srv, gone)[0] == 401, "a logged-out session with the set full")
    pg.stop()
    time.sleep(0.3)
    check(auth(srv, b)[0] == 503, "auth_store_down closed: the unverifiable session is not let in")
    pg.start()
    srv.write_conf(srv.extra + "auth_store_down open;\n")
    srv.signal(__import__("signal").SIGHUP)
    time.sleep(1.5)
    srv.wait_ready()
    deadline = time.monotonic() + 15
    while len(srv.worker_pids()) > srv.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    pg.stop()
    time.sleep(0.3)
    check(auth(srv, b)[0] == 200, "auth_store_down open: the session is let in")
    pg.start()
    print("set full: asked of PostgreSQL (200); database down: closed 503, open 200")


def main():
    with Postgres() as pg:
        with PgMagicd(pg, extra="rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n") as srv:
            test_flow(srv, pg)
            test_code(srv, pg)
            test_race(srv, pg)
            test_cli_revoke(srv)
            test_cli_add(srv)
            test_slow(srv, pg)
            test_outage(srv, pg)
            test_set_full(srv, pg)
    print("ok")


if __name__ == "__main__":
    main()
