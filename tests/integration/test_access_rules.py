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
  - Groups: `user add EMAIL --group G` (repeatable, also on an existing
    user), `user list` shows them, export/import keep them, a store written
    by an older magicd (is_admin=1) reads as the group "admins", and the
    old `--admin` flag says what replaced it.
"""
import json
import os
import re
import signal
import sqlite3
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


def test_groups():
    with Magicd(workers=1, profiler=False) as srv:
        r = srv.run_cli("user", "add", "boss@example.com", "--group", "admins", "--group", "ops")
        check("boss@example.com" in r.stdout and "admins" in r.stdout, r.stdout)
        r = srv.run_cli("user", "add", DEMO, "--group", "readers")
        check("readers" in r.stdout, f"adding a group to an existing user: {r.stdout}")
        r = srv.run_cli("user", "add", "x@example.com", "--admin", check_rc=False)
        check(r.returncode == 2 and "--group admins" in r.stderr,
              f"--admin: rc {r.returncode} {r.stderr!r}")
        for bad in ("", "a,b", "has space", "x" * 65, "é"):
            r = srv.run_cli("user", "add", "y@example.com", "--group", bad, check_rc=False)
            check(r.returncode != 0 and "group" in r.stderr, f"group {bad!r}: {r.returncode}")
        check("y@example.com" not in srv.run_cli("user", "list").stdout, "bad group added a user")

        listing = srv.run_cli("user", "list").stdout
        line = [ln for ln in listing.splitlines() if ln.startswith("boss@example.com")]
        check(line and "admins,ops" in line[0], f"user list: {listing}")
        line = [ln for ln in listing.splitlines() if ln.startswith(DEMO)]
        check(line and "readers" in line[0], f"user list: {listing}")
        print("ok: user add --group (repeatable, existing users too); user list shows groups")

        data = json.loads(srv.run_cli("user", "export").stdout)
        byemail = {u["email"]: u for u in data}
        check(byemail["boss@example.com"]["groups"] == ["admins", "ops"], data)
        check(byemail[DEMO]["groups"] == ["readers"], data)
        check(all("is_admin" not in u for u in data), f"export still writes is_admin: {data}")

        dump = os.path.join(srv.tmp, "users.json")
        data.append({"email": "legacy@example.com", "is_admin": True})
        data.append({"email": "new@example.com", "groups": ["ops"]})
        with open(dump, "w") as f:
            json.dump(data, f)
        other = Magicd(workers=1, profiler=False, users=())
        r = other.run_cli("user", "import", dump)
        check("imported 4" in r.stdout, r.stdout)
        back = {u["email"]: u["groups"] for u in json.loads(other.run_cli("user", "export").stdout)}
        check(back == {"boss@example.com": ["admins", "ops"], DEMO: ["readers"],
                       "legacy@example.com": ["admins"], "new@example.com": ["ops"]}, back)
        with open(dump, "w") as f:
            json.dump([{"email": "z@example.com", "groups": ["bad group"]}], f)
        r = other.run_cli("user", "import", dump, check_rc=False)
        check(r.returncode == 1 and "entry 0" in r.stderr and "group" in r.stderr, r.stderr)
        print("ok: export/import keep groups; is_admin in an old export -> admins")

    # A store written by an older magicd: users.is_admin, no groups table.
    srv = Magicd(workers=1, profiler=False, users=())
    db = os.path.join(srv.tmp, "users.db")
    os.unlink(db) if os.path.exists(db) else None
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL COLLATE NOCASE,
                           is_admin INT NOT NULL DEFAULT 0, created_at INT NOT NULL);
        INSERT INTO users(email, is_admin, created_at) VALUES ('old@example.com', 1, 1700000000);
        INSERT INTO users(email, is_admin, created_at) VALUES ('plain@example.com', 0, 1700000000);
    """)
    con.commit()
    con.close()
    srv.run_cli("user", "add", "third@example.com")  # opens read-write: migrates
    back = {u["email"]: u["groups"] for u in json.loads(srv.run_cli("user", "export").stdout)}
    check(back == {"old@example.com": ["admins"], "plain@example.com": [],
                   "third@example.com": []}, back)
    print("ok: an older store's is_admin=1 reads as the group admins")


def main():
    test_groups()
    test_signin_rules()
    print("PASS test_access_rules")


if __name__ == "__main__":
    main()
