#!/usr/bin/env python3
"""The sliding refresh through nginx: a user who only ever talks to the
protected application (every request checked by auth_request /auth) must
stay signed in while active, although the idle timeout runs from the last
refresh of the cookie. magicd puts the refreshed cookie on the /auth answer;
the shipped conf/nginx-auth-request.conf must hand it to the browser.

Real nginx with the shipped example, real magicd (session_idle_timeout 3s),
a real upstream (echo_app.py): the browser uses the application every
0.7 s for 7 s (more than twice the idle timeout) and must never be sent to
the sign-in page, must receive refreshed cookies, and the cookie it held
at sign-in must be refused once idle."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nginx_front  # noqa: E402
from harness import DEMO, Magicd, check, skip  # noqa: E402
from test_nginx_auth_request import Client, sign_in  # noqa: E402


def run(srv, nport):
    c = Client(nport)
    target = "/app/page"
    sign_in(c, srv, target, DEMO)
    name = [k for k in c.cookies if k.endswith("session")][0]
    first = c.cookies[name]
    t0 = time.monotonic()
    refreshed = 0
    while time.monotonic() - t0 < 7.0:
        before = c.cookies.get(name)
        st, h, body = c.req("GET", target)
        check(st == 200, f"an active user was sent away at {time.monotonic() - t0:.1f} s: {st} "
              f"{h.get('location')}")
        if c.cookies.get(name) != before:
            refreshed += 1
        time.sleep(0.7)
    check(refreshed >= 2, f"nginx passed on {refreshed} refreshed cookies in 7 s (idle 3 s)")
    old = Client(nport)
    old.cookies = {name: first}
    st, h, _ = old.req("GET", target)
    check(st == 302 and "/login" in h.get("location", ""),
          f"the sign-in cookie, idle for 7 s, still opens the application: {st}")
    print(f"ok: active user kept signed in through nginx ({refreshed} refreshes); idle cookie "
          "refused")


def main():
    why = nginx_front.available()
    if why:
        skip(why)
    srv = Magicd(workers=2)
    front = nginx_front.Front(srv.tmp)
    srv.write_conf(f"public_url {front.base_url};\nallowed_return_urls {front.base_url}/*;\n"
                   "session_idle_timeout 3s;\nsession_ttl 1h;\n")
    srv.start()
    try:
        front.start(srv.port)
        run(srv, front.port)
    except BaseException:
        sys.stderr.write("---- magicd error log ----\n" + srv.log() + "\n")
        sys.stderr.write("---- nginx ----\n" + front.error_log() + "\n")
        raise
    finally:
        front.stop()
        srv.stop()
    srv.check_sanitizers()
    print("PASS test_auth_refresh_nginx")


if __name__ == "__main__":
    main()
