"""test_metrics: Prometheus /metrics on the profiler's listener.

The counters live in the workers' shared-memory slots (and the master's and
the mailer's areas); the profiler sums them when scraped. Checked on the live
server:
  1. GET /metrics on profiler_listen answers the text exposition format, and
     `promtool check metrics` (Debian package prometheus) finds no problem,
     before and after traffic; the public listener has no /metrics;
  2. values move with real requests: requests by route and status code,
     the latency histogram's count and sum, links issued / redeemed /
     refused by reason, codes tried, rate-limited requests, sessions started,
     connections;
  3. kill -9 of a worker counts one restart, and the counters the dead
     worker had published are not lost (a slot is reused, never reset);
  4. with `delivery smtp` and no relay, the delivery queue depth is the
     number of links waiting in the spool;
  5. the sessions-active gauge goes up at each sign-in and down at a logout,
     a revocation from the command line, and a session's idle timeout, and
     a killed worker does not take its sessions out of the count.
"""
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

from harness import DEMO, Browser, Magicd, check, free_port, skip

PROMTOOL = shutil.which("promtool")
if not PROMTOOL:
    skip("promtool not installed (Debian package prometheus)")


def scrape(srv):
    st, h, body = srv.pprof("/metrics", timeout=10)
    check(st == 200, f"/metrics answered {st}")
    ct = h.get("content-type", "")
    check(ct.startswith("text/plain") and "version=0.0.4" in ct, f"Content-Type {ct!r}")
    return body.decode()


def promtool(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0, f"promtool check metrics: rc {r.returncode}\n{r.stdout}{r.stderr}")
    check(not (r.stdout + r.stderr).strip(), f"promtool complains:\n{r.stdout}{r.stderr}")


def samples(text):
    """{'name{labels}': value} with labels sorted, and the TYPE lines."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        check(m, f"not a sample line: {line!r}")
        labels = ""
        if m.group(3):
            pairs = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3))
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(pairs))
        out[f"{m.group(1)}{{{labels}}}"] = float(m.group(4))
    return out, types


def val(s, name, **labels):
    key = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    return s.get(key, 0.0)


def delta(a, b, name, **labels):
    return val(b, name, **labels) - val(a, name, **labels)


with Magicd(workers=2, extra="rate_limit_email 3 15m;\nrate_limit_ip 1000 1m;",
            users=(DEMO, "other@example.com")) as srv:
    text = scrape(srv)
    promtool(text)
    s0, types = samples(text)
    for name, kind in (("magicd_http_requests_total", "counter"),
                       ("magicd_http_request_duration_seconds", "histogram"),
                       ("magicd_links_issued_total", "counter"),
                       ("magicd_links_redeemed_total", "counter"),
                       ("magicd_links_refused_total", "counter"),
                       ("magicd_codes_tried_total", "counter"),
                       ("magicd_rate_limited_total", "counter"),
                       ("magicd_sessions_started_total", "counter"),
                       ("magicd_sessions_revoked_total", "counter"),
                       ("magicd_sessions_active", "gauge"),
                       ("magicd_mail_queue_depth", "gauge"),
                       ("magicd_mails_sent_total", "counter"),
                       ("magicd_mails_deferred_total", "counter"),
                       ("magicd_mails_failed_total", "counter"),
                       ("magicd_worker_restarts_total", "counter"),
                       ("magicd_workers", "gauge"),
                       ("magicd_http_connections_active", "gauge")):
        check(types.get(name) == kind, f"{name}: TYPE {types.get(name)!r}, want {kind}")
    check(val(s0, "magicd_workers") == 2, f"magicd_workers {val(s0, 'magicd_workers')}")
    st, _, _ = srv.request("GET", "/metrics")
    check(st == 404, f"/metrics on the public listener answered {st}")
    print(f"ok: /metrics passes promtool check metrics ({len(s0)} samples), not on the public port")

    b = Browser(srv)
    for _ in range(3):
        b.login_page()
    st, _, body = b.generate(DEMO)
    check(st == 200, "generate")
    path = srv.outbox_links()[-1]["link"]
    path = path[path.index("/magic/verify/"):]
    st, _, _ = b.req("POST", path)
    check(st == 303, f"verify {st}")
    st, _, _ = b.req("POST", path)
    check(st == 410, f"replay {st}")
    st, _, _ = b.req("POST", "/magic/verify/not-a-token")
    check(st == 400, f"malformed {st}")
    other = Browser(srv)
    other.login_page()
    b.generate(DEMO)
    p2 = srv.outbox_links()[-1]["link"]
    st, _, _ = other.req("POST", p2[p2.index("/magic/verify/"):])
    check(st == 403, f"wrong browser {st}")
    st, _, body = b.generate(DEMO)
    ticket = re.search(rb'name="ticket"[^>]*value="([^"]+)"', body)
    check(ticket, "no ticket in the sent page")
    code = srv.outbox_links()[-1]["code"]
    bad = "%06d" % ((int(code) + 1) % 1000000)
    st, _, _ = b.req("POST", "/magic/code",
                     urllib.parse.urlencode({"ticket": ticket.group(1).decode(), "code": bad}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 403, f"wrong code {st}")
    st, _, _ = b.generate(DEMO)
    check(st == 429, f"4th generate within the email limit answered {st}")
    srv.request("GET", "/no-such-page")
    time.sleep(0.2)

    text = scrape(srv)
    promtool(text)
    s1, _ = samples(text)
    d = lambda name, **l: delta(s0, s1, name, **l)  # noqa: E731
    logins = d("magicd_http_requests_total", route="GET /login", code="200")
    check(logins == 4, f"GET /login 200 moved by {logins}, want 4 (3 + another browser)")
    check(d("magicd_http_requests_total", route="POST /magic/generate", code="200") == 3,
          "generate 200 did not move by 3")
    check(d("magicd_http_requests_total", route="POST /magic/generate", code="429") == 1,
          "generate 429 did not move by 1")
    check(d("magicd_http_requests_total", route="POST /magic/verify/:token", code="410") == 1, "verify 410 did not move")
    check(d("magicd_http_requests_total", route="other", code="404") == 2,
          "404 did not move by 2 (/metrics on the public port, /no-such-page)")
    hc = d("magicd_http_request_duration_seconds_count", route="GET /login")
    check(hc == 4, f"latency histogram count for /login moved by {hc}")
    inf = d("magicd_http_request_duration_seconds_bucket", route="GET /login", le="+Inf")
    check(inf == 4, f"+Inf bucket moved by {inf}")
    check(d("magicd_http_request_duration_seconds_sum", route="GET /login") > 0,
          "latency sum did not move")
    check(d("magicd_links_issued_total") == 3, f"links issued moved by {d('magicd_links_issued_total')}")
    check(d("magicd_links_redeemed_total", via="link") == 1, "links redeemed did not move")
    check(d("magicd_sessions_started_total") == 1, "sessions started did not move")
    check(val(s1, "magicd_sessions_active") == 1,
          f"sessions active {val(s1, 'magicd_sessions_active')} after one sign-in")
    for reason in ("used", "malformed", "wrong_browser"):
        check(d("magicd_links_refused_total", reason=reason) == 1,
              f"links refused {reason} moved by {d('magicd_links_refused_total', reason=reason)}")
    check(d("magicd_codes_tried_total", result="wrong") == 1, "codes tried (wrong) did not move")
    check(d("magicd_rate_limited_total", scope="email") == 1, "rate limited (email) did not move")
    check(val(s1, "magicd_http_connections_accepted_total") > val(s0, "magicd_http_connections_accepted_total"),
          "accepted connections did not move")
    print("ok: requests by route/code, latency histogram, links issued/redeemed/refused, "
          "codes tried, rate limits all move with real requests")

    # a sign-in, then a logout: one session started, one revoked
    lo = Browser(srv)
    lo.login_page()
    st, _, _ = lo.generate("other@example.com")
    check(st == 200, f"generate for the second user: {st}")
    lp = srv.outbox_links()[-1]["link"]
    st, _, _ = lo.req("POST", lp[lp.index("/magic/verify/"):])
    check(st == 303, f"verify before logout: {st}")
    sa, _ = samples(scrape(srv))
    check(val(sa, "magicd_sessions_active") == 2,
          f"sessions active {val(sa, 'magicd_sessions_active')} after a second sign-in, want 2")
    lo.login_page()
    st, _, _ = lo.req("POST", "/logout")
    check(st in (200, 303), f"logout: {st}")
    s1b, _ = samples(scrape(srv))
    check(delta(s1, s1b, "magicd_sessions_revoked_total") == 1,
          f"sessions revoked moved by {delta(s1, s1b, 'magicd_sessions_revoked_total')}")
    check(delta(s1, s1b, "magicd_sessions_started_total") == 1, "sessions started (2nd)")
    check(val(s1b, "magicd_sessions_active") == 1,
          f"sessions active {val(s1b, 'magicd_sessions_active')} after the logout, want 1")
    s1 = s1b
    print("ok: a logout counts one revoked session; sessions active 1 -> 2 -> 1")

    # 3. a worker killed: one restart, no counter lost
    victim = srv.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    end = time.time() + 15
    while time.time() < end:
        pids = srv.worker_pids()
        if victim not in pids and len(pids) == 2:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    text = scrape(srv)
    promtool(text)
    s2, _ = samples(text)
    check(delta(s1, s2, "magicd_worker_restarts_total") == 1,
          f"worker restarts moved by {delta(s1, s2, 'magicd_worker_restarts_total')}")
    for key, v in s1.items():
        if key.startswith(("magicd_http_requests_total", "magicd_links_", "magicd_codes_")):
            check(s2.get(key, 0) >= v, f"{key} went down after a worker died: {v} -> {s2.get(key)}")
    check(val(s2, "magicd_sessions_active") == 1,
          f"sessions active {val(s2, 'magicd_sessions_active')} after a worker died, want 1")
    print("ok: kill -9 of a worker counts one restart; no counter goes backwards")

# 4. queue depth with the relay down
port = free_port()
srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{port}",
             extra="rate_limit_email 100 1m;\nsmtp_starttls off;\n")
srv.write_conf(srv.extra + f"\nsmtp_spool {srv.tmp}/spool;\n")
with srv:
    b = Browser(srv)
    b.login_page()
    for _ in range(3):
        st, _, _ = b.generate(DEMO)
        check(st == 200, f"generate {st}")
    end = time.time() + 10
    depth = -1
    while time.time() < end:
        s, _ = samples(scrape(srv))
        depth = val(s, "magicd_mail_queue_depth")
        if depth == 3 and val(s, "magicd_mails_deferred_total") >= 1:
            break
        time.sleep(0.3)
    check(depth == 3, f"queue depth {depth}, want 3 links waiting for the relay")
    check(val(s, "magicd_mails_deferred_total") >= 1, "no deferred mail counted with the relay down")
    # Answered after the group commit, off the handler: still counted
    # under its route (once a route-less answer).
    gen = val(s, "magicd_http_requests_total", route="POST /magic/generate", code="200")
    check(gen == 3, f"smtp generates counted under their route: {gen}, want 3")
    print("ok: relay down -> queue depth 3, deferred mails counted, parked answers under their route")

# 5. sessions active: down at a revocation from the command line and at the
# idle timeout (3 s here), with no logout
with Magicd(workers=2, extra="rate_limit_ip 1000 1m;\nsession_idle_timeout 3s;",
            users=(DEMO, "other@example.com")) as srv:
    def active():
        return val(samples(scrape(srv))[0], "magicd_sessions_active")

    def wait_active(want, seconds):
        end, n = time.time() + seconds, -1
        while time.time() < end:
            n = active()
            if n == want:
                return n
            time.sleep(0.1)
        return n

    check(active() == 0, f"sessions active {active()} before any sign-in")
    t0 = time.time()
    for who in (DEMO, "other@example.com"):
        b = Browser(srv)
        b.login_page()
        st, _, _ = b.generate(who)
        check(st == 200, f"generate for {who}: {st}")
        lp = srv.outbox_links()[-1]["link"]
        st, _, _ = b.req("POST", lp[lp.index("/magic/verify/"):])
        check(st == 303, f"verify for {who}: {st}")
    check(active() == 2, f"sessions active {active()} after two sign-ins")
    ids = srv.run_cli("session", "list", "other@example.com").stdout.split()
    sid = [w for w in ids if re.fullmatch(r"[0-9a-f]{32}", w)]
    check(len(sid) == 1, f"session list: {ids}")
    srv.run_cli("session", "revoke", sid[0])
    n = wait_active(1, 3)
    check(n == 1, f"sessions active {n} after a revocation from the command line, want 1")
    check(time.time() - t0 < 3, "too slow to tell the revocation from the idle timeout")
    n = wait_active(0, 6)
    check(n == 0, f"sessions active {n} after the idle timeout, want 0")
    promtool(scrape(srv))
    print("ok: sessions active 0 -> 2 -> 1 (revoked from the command line) -> 0 (idle timeout)")
