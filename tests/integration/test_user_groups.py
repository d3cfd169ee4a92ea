#!/usr/bin/env python3
"""Groups in the user store, through the real CLI: `user add EMAIL --group G`
(repeatable, also on an existing user), `user list` shows them,
export/import keep them, a store written by an older magicd (is_admin=1)
reads as the group "admins", and the old `--admin` flag says what replaced
it. (What GET /auth makes of them: test_nginx_auth_request.py.)
"""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEMO, Magicd, check  # noqa: E402


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
    print("PASS test_user_groups")


if __name__ == "__main__":
    main()
