"""The first hour of a new user, from a fresh copy of the repository.

`make run` (tools/run-dev.sh) and the commands a user types next from the
repository root (`build/magicd -c conf/magicd.conf user list`, `-t`,
`-s reload`, `-s stop`) must agree on where the state is: the key file, the
user store and the pid file that `make run` created are the ones the CLI
finds, and nothing tells the user to make a second key.

Without a config: `magicd keygen PATH` needs none; `magicd` alone names the
default config it could not open, says how to name another (-c), and no
message says "line 0". `magicd -s reload` with no server says that no server
is running (no pid file, or a pid file left by a server that is gone).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, ROOT, check, free_port  # noqa: E402

import http.client  # noqa: E402


def healthz(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/healthz")
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return None


def fresh_clone(tmp):
    """The files `make run` uses, as a fresh clone has them: no state."""
    clone = os.path.join(tmp, "clone")
    ignore = shutil.ignore_patterns("run", "*.key", "*.db", "*.db-*", "*.pid", "*.log")
    shutil.copytree(os.path.join(ROOT, "conf"), os.path.join(clone, "conf"), ignore=ignore)
    shutil.copytree(os.path.join(ROOT, "html"), os.path.join(clone, "html"))
    os.makedirs(os.path.join(clone, "tools"))
    shutil.copy(os.path.join(ROOT, "tools/run-dev.sh"), os.path.join(clone, "tools"))
    os.makedirs(os.path.join(clone, "build"))
    os.symlink(BIN, os.path.join(clone, "build/magicd"))
    return clone


def cli(clone, *args, env=None):
    """A command typed at the clone's root, as the README shows it."""
    return subprocess.run(["build/magicd", "-c", "conf/magicd.conf"] + list(args), cwd=clone,
                          capture_output=True, text=True, timeout=30, env=env)


def make_run_then_cli(tmp):
    clone = fresh_clone(tmp)
    port, pport = free_port(), free_port()
    env = dict(os.environ, MAGICD_BIN="build/magicd",
               MAGICD_DIRECTIVES=f"listen 127.0.0.1:{port}; profiler_listen 127.0.0.1:{pport};")
    out = open(os.path.join(tmp, "make-run.log"), "wb")
    proc = subprocess.Popen(["tools/run-dev.sh"], cwd=clone, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)

    def log():
        return open(os.path.join(tmp, "make-run.log"), errors="replace").read()[-5000:]

    try:
        end = time.time() + 20
        while time.time() < end and healthz(port) != 200:
            check(proc.poll() is None, f"make run exited {proc.returncode}:\n{log()}")
            time.sleep(0.1)
        check(healthz(port) == 200, f"make run does not answer on {port}:\n{log()}")
        check(f"http://127.0.0.1:{port}/login" in log(), f"make run prints the login URL:\n{log()}")

        # The next commands, from the repository root.
        r = cli(clone, "user", "list")
        check(r.returncode == 0 and "demo@example.com" in r.stdout,
              f"`user list` finds the store make run created: rc {r.returncode}\n"
              f"{r.stdout}{r.stderr}")
        r = cli(clone, "-t")
        check(r.returncode == 0 and "test is successful" in r.stderr,
              f"`-t` finds make run's key file: rc {r.returncode}\n{r.stderr}")
        check("keygen" not in r.stderr, f"-t advises no second key: {r.stderr}")
        r = cli(clone, "user", "add", "new@example.com")
        check(r.returncode == 0, f"user add: {r.stderr}")
        r = cli(clone, "-s", "reload")
        check(r.returncode == 0, f"`-s reload` finds make run's pid file: {r.stderr}")
        end = time.time() + 10
        while time.time() < end and "reconfigured" not in log():
            time.sleep(0.1)
        check("reconfigured" in log(), f"the server reloaded:\n{log()}")
        check(healthz(port) == 200, "serving after the reload")
        r = cli(clone, "-s", "stop")
        check(r.returncode == 0, f"`-s stop`: {r.stderr}")
        proc.wait(15)
        check(healthz(port) is None, "stopped")
        # The same commands once more: nothing new was created beside the state
        # make run uses, and the key is the one make run made.
        r = cli(clone, "-T")
        check(r.returncode == 0, f"-T: {r.stderr}")
        keys = [ln.split()[1].rstrip(";") for ln in r.stdout.splitlines()
                if ln.startswith("key_file ")]
        check(len(keys) == 1 and os.path.exists(keys[0]), f"-T names the key file: {keys}")
        n = 0
        for d, _, files in os.walk(clone):
            n += sum(f.endswith(".key") for f in files)
        check(n == 1, f"exactly one key file in the clone, found {n}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def without_config(tmp):
    env = dict(os.environ, MAGICD_CONF=os.path.join(tmp, "etc/magicd/magicd.conf"))
    key = os.path.join(tmp, "new.key")
    r = subprocess.run([BIN, "keygen", key], capture_output=True, text=True, env=env, timeout=10)
    check(r.returncode == 0 and os.path.exists(key), f"keygen PATH needs no config: {r.stderr}")
    check(oct(os.stat(key).st_mode & 0o777) == "0o600", "key mode 0600")

    r = subprocess.run([BIN], capture_output=True, text=True, env=env, timeout=10)
    check(r.returncode != 0, "no config: fails")
    check("magicd.conf" in r.stderr and "-c" in r.stderr,
          f"names the default config and suggests -c: {r.stderr}")
    check(":0" not in r.stderr and "line 0" not in r.stderr, f"no line 0: {r.stderr}")

    for args in (["-t"], ["user", "list"], ["-s", "reload"]):
        r = subprocess.run([BIN] + args, capture_output=True, text=True, env=env, timeout=10)
        check(r.returncode != 0 and "-c" in r.stderr and ":0" not in r.stderr,
              f"{args} without a config: {r.stderr}")

    missing = os.path.join(tmp, "nope.conf")
    r = subprocess.run([BIN, "-c", missing, "-t"], capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and missing in r.stderr and ":0" not in r.stderr,
          f"-c MISSING: {r.stderr}")


def reload_without_server(tmp):
    d = os.path.join(tmp, "srv")
    os.makedirs(d)
    conf = os.path.join(d, "magicd.conf")
    with open(conf, "w") as f:
        f.write(f"listen 127.0.0.1:{free_port()};\npid magicd.pid;\nkey_file k.key;\n"
                f"html_root {ROOT}/html;\nusers_db users.db;\n")
    r = subprocess.run([BIN, "-c", conf, "-s", "reload"], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 1 and "not running" in r.stderr and "pid file" in r.stderr,
          f"no pid file: {r.stderr}")
    # A pid file left behind by a server that is gone.
    p = subprocess.Popen(["true"])
    p.wait()
    with open(os.path.join(d, "magicd.pid"), "w") as f:
        f.write(f"{p.pid}\n")
    r = subprocess.run([BIN, "-c", conf, "-s", "reload"], capture_output=True, text=True,
                       timeout=10)
    check(r.returncode == 1 and "not running" in r.stderr and str(p.pid) in r.stderr,
          f"stale pid file: {r.stderr}")


def main():
    tmp = tempfile.mkdtemp(prefix="magicd-first-hour-")
    without_config(tmp)
    reload_without_server(tmp)
    make_run_then_cli(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    print("first hour ok")


if __name__ == "__main__":
    main()
