"""Without allowed_return_urls, return-to is off: /login?rd=URL (what nginx's
error_page sends) is dropped and every sign-in lands on default_return_url.
The browser is told nothing (a crafted link learns nothing), but the
operator who put magicd behind nginx and forgot the line is: the error log
says it, once per worker, at the first URL dropped that way. With the line
set, a URL it refuses is not logged (that is the matcher at work, not a
missing setting)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Magicd, check  # noqa: E402

MSG = "allowed_return_urls is not set"

with Magicd(workers=1) as srv:
    for _ in range(3):
        st, _, body = srv.request("GET", "/login?rd=http%3A%2F%2F127.0.0.1%3A9%2Fapp")
        check(st == 200 and b'name="rd" type="hidden" value=""' in body, f"/login: {st}")
    log = srv.log()
    check(log.count(MSG) == 1, f"said once in the error log:\n{log[-1500:]}")
    check("127.0.0.1:9" not in log, "the URL itself is not logged")

with Magicd(workers=1, extra="allowed_return_urls https://app.example.com/*;") as srv:
    st, _, _ = srv.request("GET", "/login?rd=http%3A%2F%2F127.0.0.1%3A9%2Fapp")
    check(st == 200, f"/login: {st}")
    check(MSG not in srv.log(), "nothing said with the line set")
print("return-to unset: said once")
