"""The user store in a real PostgreSQL: `magicd store migrate`, `user ...`
and `session ...` against `users_db postgresql://...`.

A throwaway cluster is started on loopback (services.Postgres). The schema
must be created only by `store migrate` (the other commands refuse an
unmigrated database and say what to run), be versioned and idempotent, and
the CLI must behave as it does on a SQLite file, triggers included: removing
a user revokes its sessions and voids its links. The server on this store
is test_pg_worker.py.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, ROOT, check, free_port  # noqa: E402
from services import Postgres  # noqa: E402


def conf_for(tmp, url):
    path = os.path.join(tmp, "magicd.conf")
    with open(path, "w") as f:
        f.write(f"""
worker_processes 1;
listen 127.0.0.1:{free_port()};
profiler off;
pid {tmp}/magicd.pid;
error_log {tmp}/error.log info;
html_root {ROOT}/html;
key_file {tmp}/magicd.key;
users_db {url};
delivery outbox {tmp}/outbox.jsonl;
public_url http://127.0.0.1:8080;
""")
    return path


def cli(conf, *args, rc=0):
    r = subprocess.run([BIN, "-c", conf] + list(args), capture_output=True, text=True,
                       timeout=30)
    if rc is not None:
        check(r.returncode == rc, "magicd %s: exit %d (wanted %d)\nstdout: %s\nstderr: %s" %
              (" ".join(args), r.returncode, rc, r.stdout, r.stderr))
    return r


def main():
    with Postgres() as pg:
        tmp = tempfile.mkdtemp(prefix="magicd-pgstore-")
        conf = conf_for(tmp, pg.url)

        # Before migrate: refused, naming the command to run; nothing created.
        r = cli(conf, "user", "add", "a@example.com", rc=1)
        check("store migrate" in r.stderr, "no hint to migrate: " + r.stderr)
        check(pg.sql("SELECT to_regclass('users') IS NULL").strip() == "t",
              "a table was created without migrate")

        r = cli(conf, "store", "migrate")
        check("from schema version 0 to 2" in r.stdout, r.stdout)
        r = cli(conf, "store", "migrate")
        check("nothing to do" in r.stdout, "second migrate: " + r.stdout)
        check(pg.sql("SELECT string_agg(version::text, ',') FROM schema_version").strip() == "1,2",
              "schema_version rows")
        tables = set(pg.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                     .split())
        for t in ("schema_version", "users", "user_groups", "used_links", "sessions",
                  "session_revocations", "auth_events", "link_cutoffs", "code_tries"):
            check(t in tables, "missing table " + t)

        # Two migrations at once serialise on the advisory lock.
        pg.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        procs = [subprocess.Popen([BIN, "-c", conf, "store", "migrate"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outs = [p.communicate(timeout=30) + (p.returncode,) for p in procs]
        check(all(o[2] == 0 for o in outs), "concurrent migrate failed: %r" % outs)
        check(sum("from schema version 0 to 2" in o[0] for o in outs) == 1,
              "not exactly one migrator did the work: %r" % outs)

        # A version 1 database (its statement-level users trigger) is
        # upgraded to 2: one row trigger naming the address.
        pg.sql("DELETE FROM schema_version WHERE version = 2; "
               "DROP TRIGGER users_changed ON users; DROP FUNCTION magicd_user_changed(); "
               "CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users "
               "FOR EACH STATEMENT EXECUTE FUNCTION magicd_users_changed()")
        r = cli(conf, "store", "migrate")
        check("from schema version 1 to 2" in r.stdout, r.stdout)
        check(pg.sql("SELECT action_orientation FROM information_schema.triggers "
                     "WHERE trigger_name = 'users_changed' LIMIT 1").strip() == "ROW",
              "users_changed is not a row trigger after the upgrade")

        # Users and groups, as on SQLite.
        r = cli(conf, "user", "add", " Alice@Example.com ", "--group", "admins", "--group", "ops")
        check("added user alice@example.com in group admins, ops" in r.stdout, r.stdout)
        cli(conf, "user", "add", "bob@example.com")
        r = cli(conf, "user", "add", "bob@example.com")
        check("already exists" in r.stdout, r.stdout)
        r = cli(conf, "user", "list")
        lines = r.stdout.splitlines()
        check(len(lines) == 2 and lines[0].startswith("alice@example.com") and
              "admins,ops" in lines[0] and lines[1].startswith("bob@example.com"),
              "list: " + r.stdout)
        check(pg.sql("SELECT count(*) FROM users WHERE email = 'alice@example.com'").strip() ==
              "1", "alice not in the database")

        # Sessions: two of alice's, one of bob's, written as a node would.
        pg.sql("INSERT INTO sessions(id, email, created_at, expires_at, ip, user_agent) VALUES "
               "('\\x00112233445566778899aabbccddeeff', 'alice@example.com', 1000, 4102444800,"
               " '127.0.0.1', 'curl/8'),"
               "('\\xffeeddccbbaa99887766554433221100', 'alice@example.com', 1001, 4102444800,"
               " '', ''),"
               "('\\x0102030405060708090a0b0c0d0e0f10', 'bob@example.com', 1002, 4102444800,"
               " '', '')")
        r = cli(conf, "session", "list", "alice@example.com")
        lines = r.stdout.splitlines()
        check(len(lines) == 2 and lines[0].startswith("00112233445566778899aabbccddeeff active")
              and "curl/8" in lines[0], "session list: " + r.stdout)
        r = cli(conf, "session", "revoke", "00112233445566778899aabbccddeeff")
        check("revoked session" in r.stdout, r.stdout)
        cli(conf, "session", "revoke", "00112233445566778899aabbccddeeff", rc=1)
        r = cli(conf, "session", "list", "alice@example.com")
        check(" revoked " in r.stdout.splitlines()[0], "not revoked: " + r.stdout)
        r = cli(conf, "session", "revoke-all", "alice@example.com")
        check("revoked 1 session of alice@example.com" in r.stdout, r.stdout)
        check(pg.sql("SELECT count(*) FROM session_revocations").strip() == "2",
              "revocation log: " + pg.sql("SELECT * FROM session_revocations"))

        # Removing a user revokes its sessions and voids its links (triggers).
        r = cli(conf, "user", "remove", "bob@example.com")
        check("removed user bob@example.com" in r.stdout, r.stdout)
        check(pg.sql("SELECT revoked_at IS NOT NULL FROM sessions WHERE email = "
                     "'bob@example.com'").strip() == "t", "bob's session not revoked")
        check(pg.sql("SELECT count(*) FROM link_cutoffs WHERE email = 'bob@example.com'")
              .strip() == "1", "bob's links not voided")
        cli(conf, "user", "remove", "bob@example.com", rc=1)
        r = cli(conf, "user", "disable", "alice@example.com")
        r = cli(conf, "user", "list")
        check("disabled" in r.stdout and "bob" not in r.stdout, "list: " + r.stdout)

        # Lower-case only, even when written by another tool.
        try:
            pg.sql("INSERT INTO users(email, created_at) VALUES ('Carol@Example.com', 1)")
            raise AssertionError("a mixed-case address was accepted")
        except AssertionError as e:
            check("violates check constraint" in str(e), str(e))

        # A store that is down gives an error, not a hang.
        pg.stop()
        r = cli(conf, "user", "list", rc=1)
        check("cannot connect" in r.stderr, r.stderr)

        # The SQLite path: store migrate on a file.
        conf2 = conf_for(tmp, os.path.join(tmp, "users.db"))
        r = cli(conf2, "store", "migrate")
        check("current schema" in r.stdout, r.stdout)
        check(os.path.exists(os.path.join(tmp, "users.db")), "no SQLite file")
    print("ok")


if __name__ == "__main__":
    main()
