"""test_user_cache: the worker answers "has an account?" from memory, and a
change made with the `magicd user` CLI is seen at once.

One worker, `delivery outbox`. The worker is asked for links for demo@ many
times (so the answer is cached), then the CLI removes demo@ and adds
new@ while the server runs. Checked, right after the CLI returns:
  1. a link asked for demo@ is no longer issued (the page still answers 200,
     the outbox gets nothing): a removed user gets no link;
  2. a link asked for new@ is issued;
  3. an address asked for before it had an account (a cached "no") gets a
     link as soon as the account exists.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, skip  # noqa: E402

LATE = "late@example.com"


def links_for(srv, who):
    return [x for x in srv.outbox_links() if x.get("to") == who]


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=1, extra="rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n")
    with srv:
        b = Browser(srv)
        b.login_page()
        for _ in range(50):
            st, _, _ = b.generate(DEMO)
            check(st == 200, f"generate answered {st}")
            st, _, _ = b.generate(LATE)
            check(st == 200, f"generate answered {st}")
        check(len(links_for(srv, DEMO)) == 50, f"{len(links_for(srv, DEMO))} links for demo")
        check(not links_for(srv, LATE), "a link for an address without an account")

        srv.run_cli("user", "remove", DEMO)
        srv.run_cli("user", "add", "new@example.com")
        srv.run_cli("user", "add", LATE)
        time.sleep(0.005)
        st, _, _ = b.generate(DEMO)
        check(st == 200, f"generate answered {st}")
        check(len(links_for(srv, DEMO)) == 50, "a removed user still got a link")
        st, _, _ = b.generate("new@example.com")
        check(st == 200 and len(links_for(srv, "new@example.com")) == 1,
              "a user added by the CLI got no link")
        st, _, _ = b.generate(LATE)
        check(st == 200 and len(links_for(srv, LATE)) == 1,
              "a cached 'no account' outlived the account's creation")
    print("ok: removals and additions through the CLI are seen by the next request")


if __name__ == "__main__":
    main()
