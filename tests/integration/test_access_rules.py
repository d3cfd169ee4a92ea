#!/usr/bin/env python3
"""Who may sign in, and groups in the user store, against the real server
and the real CLI.

  - Default (no allow_email_domain, signup off): only addresses in the store
    get a link; an unknown one gets the same page and no link, and is not
    added.
  - signup on: an unknown address gets a link and an account.
  - allow_email_domain (repeatable): anyone at those domains gets a link
    (their account is made on first sign-in); an address anywhere else, in
    the store or not, gets a clear "not allowed" page in the look of the
    other pages (error.html, with its own title, not an HTTP reason phrase).
    The answer depends on the configuration alone, so it tells nothing
    about who has an account.
  - A link issued before the rules changed (HUP) is refused at verify with
    the same clear page.
"""
import json
import os
import re
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEMO, Browser, Magicd, check  # noqa: E402

LIMITS = "rate_limit_email 10000 1m;\nrate_limit_ip 10000 1m;\n"


def ask(srv, email):
    """generate for email: (status, body, link or None)."""
    b = Browser(srv)
    b.login_page()
    n = len(srv.outbox_links())
    st, h, body = b.generate(email)
    links = srv.outbox_links()
    return st, body, (links[-1]["link"] if len(links) > n else None), b


def users(srv):
    return [u["email"] for u in json.loads(srv.run_cli("user", "export").stdout)]


def refused_page(st, body, email):
    text = body.decode()
    check(st == 403, f"refused {email}: status {st}")
    check('data-page="error"' in text and "Back to sign in" in text,
          f"refusal is not a page in the look of the others: {text[:300]}")
    title = re.search(r'<h1 id="error-title">([^<]*)</h1>', text)
    check(title and title.group(1) != "Forbidden" and "sign in" in title.group(1).lower(),
          f"refusal title is an HTTP reason phrase or missing: {title and title.group(1)!r}")
    msg = re.search(r'<p id="error-message">([^<]*)</p>', text)
    check(msg and "example.com" in msg.group(1), f"refusal does not say which domains: {msg}")
    return title.group(1), msg.group(1)


def test_signin_rules():
    with Magicd(workers=2, extra=LIMITS) as srv:
        st, body, link, _ = ask(srv, "stranger@example.com")
        check(st == 200 and link is None, f"default: unknown address got {st}, link {link}")
        check("stranger@example.com" not in users(srv), "default: unknown address was added")
        st, body, link, _ = ask(srv, DEMO)
        check(st == 200 and link, "default: store user got no link")
        print("ok: default -> store users only, unknown addresses get the same page, no link")

        srv.write_conf(LIMITS + "signup on;\n")
        srv.signal(signal.SIGHUP)
        time.sleep(1.5)
        st, body, link, _ = ask(srv, "new@elsewhere.org")
        check(st == 200 and link, f"signup on: unknown address got {st}, link {link}")
        check("new@elsewhere.org" in users(srv), "signup on: no account made")
        print("ok: signup on -> unknown address gets a link and an account")

        srv.run_cli("user", "add", "vip@outside.net")
        # A link for an outside store user, issued before the domain rule.
        st, body, early_link, early = ask(srv, "vip@outside.net")
        check(early_link, "no link for vip@outside.net before the rule")

        srv.write_conf(LIMITS + "allow_email_domain example.com;\n"
                       "allow_email_domain corp.example.org;\n")
        srv.signal(signal.SIGHUP)
        time.sleep(1.5)
        for email in ("alice@example.com", "bob@corp.example.org", "Carol@EXAMPLE.com"):
            st, body, link, _ = ask(srv, email)
            check(st == 200 and link, f"allow_email_domain: {email} got {st}, link {link}")
        for email in ("eve@evil.com", "vip@outside.net", "x@sub.example.com",
                      "x@example.com.evil.com", "x@corp.example.org.evil.com"):
            st, body, link, _ = ask(srv, email)
            check(link is None, f"allow_email_domain: {email} got a link")
            title, msg = refused_page(st, body, email)
        print(f"ok: allow_email_domain -> in-domain addresses signed in; others refused: "
              f"{title!r} / {msg!r}")

        # The early link is refused at verify, with the same kind of page.
        path = early_link[early_link.index("/magic/verify/"):]
        st, h, body = early.req("POST", path)
        check(st == 403 and "location" not in h, f"verify after the rule changed: {st} {h}")
        refused_page(st, body, "vip@outside.net (verify)")
        print("ok: a link issued before the rule changed is refused at verify")

        # ... and a link for an in-domain address signs in and makes the account.
        st, body, link, b = ask(srv, "dave@example.com")
        st, h, _ = b.req("POST", link[link.index("/magic/verify/"):])
        check(st == 303, f"in-domain verify: {st}")
        check("dave@example.com" in users(srv), "in-domain sign-in made no account")
        print("ok: in-domain sign-in creates the account")


def main():
    test_signin_rules()
    print("PASS test_access_rules")


if __name__ == "__main__":
    main()
