#!/usr/bin/env python3
"""`magicd keygen` and `magicd user ...` through the real binary and config:
the key file is created 0600 and never overwritten, a group-readable key is
refused by name, and users round-trip through add/list/export/import/remove
with the documented exit codes (0 ok, 1 error, 2 usage)."""
import json
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Magicd, check, skip  # noqa: E402


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=1)  # runs `keygen` and `user add demo@example.com`
    try:
        run(srv)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)
    print("ok")


def run(srv):
    key = os.path.join(srv.tmp, "magicd.key")

    # keygen: 0600, one line, never overwritten.
    st = os.stat(key)
    check(stat.S_IMODE(st.st_mode) == 0o600, f"key mode {oct(st.st_mode)}")
    before = open(key, "rb").read()
    check(before.startswith(b"magicd-key v1 ") and len(before) == 58, f"key format {before!r}")
    r = srv.run_cli("keygen", check_rc=False)
    check(r.returncode == 1, f"keygen over an existing key: rc {r.returncode}")
    check("refusing to overwrite" in r.stderr and key in r.stderr, r.stderr)
    check(open(key, "rb").read() == before, "existing key was modified")
    other = os.path.join(srv.tmp, "other.key")
    r = srv.run_cli("keygen", other)
    check(f"created key file {other} (mode 0600)" in r.stdout, r.stdout)

    # A key readable by others is refused, with the path in the message.
    os.chmod(key, 0o644)
    r = subprocess.run([BIN, "-c", srv.conf, "-t"], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0, "config test passed with a world-readable key")
    check(key in r.stderr and "chmod 600" in r.stderr, r.stderr)
    os.chmod(key, 0o600)
    r = subprocess.run([BIN, "-c", srv.conf, "-t"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"config test failed with a 0600 key: {r.stderr}")

    # Users.
    r = srv.run_cli("user", "list")
    check(DEMO in r.stdout, r.stdout)
    r = srv.run_cli("user", "add", "  Boss@Example.COM ", "--admin", check_rc=False)
    check(r.returncode == 2 and "--group admins" in r.stderr, (r.returncode, r.stderr))
    r = srv.run_cli("user", "add", "  Boss@Example.COM ", "--group", "admins")
    check("boss@example.com" in r.stdout and "admins" in r.stdout, r.stdout)
    r = srv.run_cli("user", "add", "boss@example.com", "--group", "bad,name", check_rc=False)
    check(r.returncode == 2 and "not a group name" in r.stderr, (r.returncode, r.stderr))
    r = srv.run_cli("user", "add", DEMO)
    check("already exists" in r.stdout, r.stdout)
    # Groups given for an existing user are added, said as such (it read
    # "already exists in group ops", as if it had been in it), with when
    # its sessions see them.
    srv.run_cli("user", "add", "grp@example.com")
    r = srv.run_cli("user", "add", "grp@example.com", "--group", "ops")
    check("already exists; added to group ops" in r.stdout and "next sign-in" in r.stdout,
          r.stdout)
    srv.run_cli("user", "remove", "grp@example.com")
    r = srv.run_cli("user", "add", "not an email", check_rc=False)
    check(r.returncode == 1 and "not a valid email" in r.stderr, (r.returncode, r.stderr))
    r = srv.run_cli("user", "frob", check_rc=False)
    check(r.returncode == 2 and "usage" in r.stderr, (r.returncode, r.stderr))
    r = srv.run_cli("user", check_rc=False)
    check(r.returncode == 2, r.returncode)

    r = srv.run_cli("user", "export")
    users = json.loads(r.stdout)
    check([u["email"] for u in users] == ["boss@example.com", DEMO], users)
    check(users[0]["groups"] == ["admins"] and users[1]["groups"] == [], users)
    check(users[0]["disabled"] is False, users)
    check(all(isinstance(u["created_at"], int) and u["created_at"] > 1600000000 for u in users),
          users)

    # Import into a second store (a config pointing elsewhere) and back.
    dump = os.path.join(srv.tmp, "users.json")
    srv.run_cli("user", "export", dump)
    check(stat.S_IMODE(os.stat(dump).st_mode) == 0o600, "export file not 0600")
    extra = [{"email": "new1@example.com"}, "new2@example.com",
             {"email": "bad address"}]
    with open(dump, "w") as f:
        json.dump(users + extra, f)
    r = srv.run_cli("user", "import", dump, check_rc=False)
    check(r.returncode == 1 and "entry 4" in r.stderr and "nothing imported" in r.stderr,
          (r.returncode, r.stderr))
    check("new1@example.com" not in srv.run_cli("user", "list").stdout, "partial import")
    with open(dump, "w") as f:
        json.dump(users + extra[:2], f)
    r = srv.run_cli("user", "import", dump)
    # Users already in the store are merged, not skipped, and the message
    # says how (it read as if they were left as they were).
    check("imported 2 users (2 already present, merged:" in r.stdout
          and "none removed" in r.stdout, r.stdout)

    r = srv.run_cli("user", "remove", "new1@example.com")
    check("removed" in r.stdout, r.stdout)
    r = srv.run_cli("user", "remove", "new1@example.com", check_rc=False)
    check(r.returncode == 1, r.returncode)
    listing = srv.run_cli("user", "list").stdout
    check("new1@example.com" not in listing and "new2@example.com" in listing, listing)


if __name__ == "__main__":
    main()
