"""Server-side sessions, attacked as a thief with a copied cookie would.

Against the real server with 2 workers, each probed on its own keep-alive
connection (the worker is identified from the kernel's socket tables):
  - a cookie copied before POST /logout is refused by every worker within 1 s;
  - `magicd session list` shows a browser's session, `session revoke ID`
    kills it everywhere within 1 s, an unknown id is an error;
  - `session revoke-all EMAIL` logs a user out on every device, and a new
    sign-in still works afterwards;
  - `user remove` revokes the user's sessions and pending links (also once
    the address is added again), `user disable` refuses sign-in and revokes;
  - revocations survive a reload and a restart (the store is the record);
  - idle timeout and absolute lifetime with a sliding refresh.
"""
import re
import time

from harness import DEMO, Browser, Magicd, check
from session_util import (ask, conn_per_worker, link_path, secure_ok, session_cookie_name,
                          sign_in, wait_refused, refresh_token)

ALICE, BOB, CAROL, DAVE, ERIN = ("alice@example.com", "bob@example.com", "carol@example.com",
                                 "dave@example.com", "erin@example.com")


def sessions(srv, email):
    """{id: line} from `magicd session list EMAIL`."""
    r = srv.run_cli("session", "list", email)
    out = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if p and re.fullmatch(r"[0-9a-f]{32}", p[0]):
            out[p[0]] = line
    return out


def works_everywhere(conns, b, what):
    for pid, c in conns.items():
        check(secure_ok(c, b.cookies, b.csrf), f"{what}: session refused by worker {pid}")


def pending_link(srv, email):
    b = Browser(srv)
    b.login_page()
    n = len(srv.outbox_links())
    st, _, _ = b.generate(email)
    check(st == 200 and len(srv.outbox_links()) == n + 1, f"link for {email}")
    return b, link_path(srv.outbox_links()[-1]["link"])


def refused_link(b, path, what):
    st, h, body = b.req("POST", path)
    check(st in (403, 410) and session_cookie_name(b) == "",
          f"{what}: verify answered {st} {h.get('location')} {body[:160]}")


with Magicd(workers=2, users=(DEMO, ALICE, BOB, CAROL, DAVE, ERIN)) as srv:
    conns = conn_per_worker(srv)

    # 1. Logout revokes the session, not just the browser's copy of it.
    a, _ = sign_in(srv, DEMO, agent="demo-browser")
    refresh_token(a)
    stolen, stolen_csrf = dict(a.cookies), a.csrf
    works_everywhere(conns, a, "before logout")
    st, h, _ = a.req("POST", "/logout")
    check(st == 303 and h.get("location") == "/login", f"logout: {st}")
    took = wait_refused(conns, stolen, stolen_csrf)
    print("ok: copied cookie refused after logout, per worker:",
          {p: round(t, 3) for p, t in took.items()})
    check(any("revoked" in l for l in sessions(srv, DEMO).values()), "logout shows as revoked")

    # 2. session list / session revoke ID
    b, _ = sign_in(srv, ALICE, agent="alice-laptop")
    refresh_token(b)
    works_everywhere(conns, b, "alice")
    rows = sessions(srv, ALICE)
    mine = [i for i, l in rows.items() if "alice-laptop" in l and "active" in l]
    check(len(mine) == 1, f"session list: {rows}")
    r = srv.run_cli("session", "revoke", mine[0])
    check(mine[0] in r.stdout, r.stdout)
    took = wait_refused(conns, b.cookies, b.csrf)
    print("ok: session revoke ID in force, per worker:", {p: round(t, 3) for p, t in took.items()})
    check("revoked" in sessions(srv, ALICE)[mine[0]], "listed as revoked")
    r = srv.run_cli("session", "revoke", "0" * 32, check_rc=False)
    check(r.returncode == 1 and "no session" in r.stderr, f"unknown id: {r.returncode} {r.stderr}")
    r = srv.run_cli("session", "revoke", "not-an-id", check_rc=False)
    check(r.returncode != 0, "malformed id accepted")

    # 3. revoke-all: "log out everywhere"
    phone, _ = sign_in(srv, BOB, agent="bob-phone")
    laptop, _ = sign_in(srv, BOB, agent="bob-laptop")
    refresh_token(phone)
    refresh_token(laptop)
    works_everywhere(conns, phone, "bob phone")
    works_everywhere(conns, laptop, "bob laptop")
    check(len([l for l in sessions(srv, BOB).values() if "active" in l]) == 2, "two bob sessions")
    r = srv.run_cli("session", "revoke-all", BOB)
    check("2" in r.stdout, f"revoke-all: {r.stdout}")
    wait_refused(conns, phone.cookies, phone.csrf)
    wait_refused(conns, laptop.cookies, laptop.csrf)
    check(not [l for l in sessions(srv, BOB).values() if "active" in l], "bob still active")
    again, _ = sign_in(srv, BOB, agent="bob-again")
    refresh_token(again)
    works_everywhere(conns, again, "sign-in after revoke-all")
    print("ok: revoke-all logs out every device; a new sign-in works")

    # 4. user remove revokes sessions and pending links
    c, _ = sign_in(srv, CAROL)
    refresh_token(c)
    works_everywhere(conns, c, "carol")
    other, pending = pending_link(srv, CAROL)
    srv.run_cli("user", "remove", CAROL)
    wait_refused(conns, c.cookies, c.csrf)
    refused_link(other, pending, "link of a removed user")
    srv.run_cli("user", "add", CAROL)
    refused_link(other, pending, "link issued before the user was removed and added again")
    # links issued in the second of the removal are void too (link times
    # are whole seconds); a new one a second later works
    time.sleep(1.1)
    fresh, _ = sign_in(srv, CAROL)
    print("ok: user remove revokes sessions and pending links")

    # a user removed between generate and verify (no session yet)
    d, pending = pending_link(srv, DAVE)
    srv.run_cli("user", "remove", DAVE)
    refused_link(d, pending, "link of a user who no longer exists")

    # a disabled user: sessions revoked, links refused, enable restores sign-in
    e, _ = sign_in(srv, ERIN)
    refresh_token(e)
    e2, pending = pending_link(srv, ERIN)
    srv.run_cli("user", "disable", ERIN)
    wait_refused(conns, e.cookies, e.csrf)
    refused_link(e2, pending, "link of a disabled user")
    check("disabled" in srv.run_cli("user", "list").stdout, "user list shows disabled")
    srv.run_cli("user", "enable", ERIN)
    time.sleep(1.1)
    sign_in(srv, ERIN)
    print("ok: verify refuses removed and disabled users")

    for cn in conns.values():
        cn.close()

    # 5. Revocations are in the store: a reload and a restart keep them.
    srv.signal(__import__("signal").SIGHUP)
    time.sleep(1.5)
    srv.wait_ready()
    # the retiring generation no longer accepts: wait until only the new
    # workers are left (a busy machine can keep an old one a while)
    deadline = time.monotonic() + 15
    while len(srv.worker_pids()) > srv.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    conns = conn_per_worker(srv)
    for pid, cn in conns.items():
        check(not secure_ok(cn, stolen, stolen_csrf), f"after HUP worker {pid} accepts it")
    for cn in conns.values():
        cn.close()
    srv.stop()
    srv.start()
    conns = conn_per_worker(srv)
    for pid, cn in conns.items():
        check(not secure_ok(cn, stolen, stolen_csrf), f"after restart worker {pid} accepts it")
        check(secure_ok(cn, again.cookies, again.csrf), "a live session survives a restart")
    for cn in conns.values():
        cn.close()
    print("ok: revocations survive reload and restart")

# Idle timeout and absolute lifetime, with the sliding refresh.
with Magicd(workers=2, extra="session_idle_timeout 3s;\nsession_ttl 8s;") as srv:
    r = srv.run_cli("-T")
    check("session_idle_timeout 3s;" in r.stdout or "session_idle_timeout 3000ms;" in r.stdout,
          "session_idle_timeout in -T")
    b, h = sign_in(srv, DEMO)
    t0 = time.monotonic()
    name = session_cookie_name(b)
    setc = h.get("set-cookie", "")
    first = dict(b.cookies)
    refresh_token(b)
    csrf = b.csrf
    refreshed = 0
    while time.monotonic() - t0 < 6.0:
        before = b.cookies.get(name)
        st, hh, body = b.req("POST", "/secure/1")
        check(st == 200 and b'id="whoami"' in body,
              f"used every second, refused at {time.monotonic() - t0:.1f} s: {st}")
        if b.cookies.get(name) != before:
            refreshed += 1
            m = re.search(r"Max-Age=(\d+)", hh.get("set-cookie", ""))
            check(m and int(m.group(1)) <= 8, f"refreshed cookie outlives session_ttl: {hh}")
        time.sleep(1.0)
    check(refreshed >= 2, f"sliding refresh reissued the cookie {refreshed} times in 6 s")
    import http.client
    cn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    check(not secure_ok(cn, first, csrf), "a cookie idle for 6 s (timeout 3 s) still works")
    print(f"ok: sliding refresh ({refreshed} reissues), idle cookie refused")
    while time.monotonic() - t0 < 7.2:
        st, _, body = b.req("POST", "/secure/1")
        check(st == 200, f"within the lifetime at {time.monotonic() - t0:.1f} s: {st}")
        time.sleep(0.6)
    time.sleep(max(0, t0 + 8.6 - time.monotonic()))
    st, hh, _ = b.req("POST", "/secure/1")
    check(st == 303 and hh.get("location") == "/login",
          f"past session_ttl (8 s) though used all along: {st}")
    print("ok: absolute lifetime holds despite use")
print("sessions ok")
