"""Throwaway PostgreSQL and Redis servers for integration tests.

A test that needs the shared store of several nodes starts the real engines
here, on loopback, in a temporary directory, and stops them when it ends:

    with Postgres() as pg:          # pg.url = postgresql://magicd@127.0.0.1:P/magicd
        ...
        pg.stop(); pg.start()       # an outage, on the same port and data
    with Redis() as r:              # r.url = redis://127.0.0.1:P
        ...

PostgreSQL refuses to run as root, so when the test runs as root (CI's
`.ci/run` does) the cluster directory is handed to the unprivileged user
`nobody` and every server binary runs through `runuser -u nobody`. The
cluster trusts local connections (it listens on 127.0.0.1 only, with its
unix socket inside the temporary directory, and lives for one test).

When the binaries are missing the test is skipped (exit 77) with a message
that says which package to install; tools/deps.sh installs both.
"""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

from harness import DEMO, Magicd, free_port, skip

PG_USER = "magicd"
PG_DB = "magicd"


def pg_bindir():
    """The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and \
           os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return d
    return None


def _wait_port(port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Postgres:
    def __init__(self):
        self.bindir = pg_bindir()
        if not self.bindir:
            skip("PostgreSQL server binaries not found under /usr/lib/postgresql "
                 "(apt-get install postgresql)")
        self.tmp = tempfile.mkdtemp(prefix="magicd-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.log = os.path.join(self.tmp, "postgres.log")
        self.port = free_port()
        self.url = "postgresql://%s@127.0.0.1:%d/%s" % (PG_USER, self.port, PG_DB)
        self.as_user = []
        if os.geteuid() == 0:
            os.chown(self.tmp, 65534, 65534)  # nobody: PostgreSQL refuses root
            os.chmod(self.tmp, 0o700)
            self.as_user = ["runuser", "-u", "nobody", "--"]
        self.running = False
        self._run("initdb", "-D", self.data, "-U", PG_USER, "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\nfsync = off\n"
                    "max_connections = 100\n" % (self.port, self.tmp))
        self.start()
        self.psql("postgres", "CREATE DATABASE %s" % PG_DB)

    def _run(self, prog, *args, check=True):
        cmd = self.as_user + [os.path.join(self.bindir, prog)] + list(args)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60, cwd=self.tmp)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (prog, r.returncode, r.stdout))
        return r

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start")
        self.running = True
        if not _wait_port(self.port, 10):
            raise AssertionError("postgres did not listen on %d" % self.port)

    def stop(self, mode="fast"):
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop",
                      check=False)
            self.running = False

    def psql(self, db, sql):
        """Run SQL as the superuser; returns stdout (tuples only, unaligned)."""
        r = self._run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.tmp,
                      "-p", str(self.port), "-U", PG_USER, "-d", db, "-c", sql)
        return r.stdout

    def sql(self, sql):
        return self.psql(PG_DB, sql)

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Redis:
    def __init__(self):
        self.bin = shutil.which("redis-server")
        if not self.bin:
            skip("redis-server not found (apt-get install redis-server)")
        self.tmp = tempfile.mkdtemp(prefix="magicd-redis-")
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.bin, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", self.tmp,
             "--logfile", os.path.join(self.tmp, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port, 10):
            self.stop()
            raise AssertionError("redis-server did not listen on %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def command(self, *args):
        """One command over RESP; returns the raw reply line(s)."""
        s = socket.create_connection(("127.0.0.1", self.port), 5)
        msg = "*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
        s.sendall(msg.encode())
        data = s.recv(65536).decode()
        s.close()
        return data

    def close(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PgMagicd(Magicd):
    """magicd with users_db on the given PostgreSQL, schema migrated, and
    DEMO's account in it."""

    def __init__(self, pg, **kw):
        self.pg_url = pg.url
        super().__init__(users=(), **kw)
        self.run_cli("store", "migrate")
        self.run_cli("user", "add", DEMO)

    def conf_text(self, extra=None):
        return super().conf_text(extra).replace(
            f"users_db {self.tmp}/users.db;", f"users_db {self.pg_url};")
