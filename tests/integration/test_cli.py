"""The command line: -t on a broken config exits non-zero naming FILE:LINE;
-t on a good one succeeds; -T prints the effective config; keygen creates a
0600 key once and never overwrites it; `magicd health` is 0 against a
running server and 1 with the reason when nothing answers; -s without a
running master fails clearly; version and -h."""
import os
import stat
import subprocess
from harness import Magicd, BIN, check


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30)


srv = Magicd(workers=1)
r = srv.run_cli("-t")
check("test is successful" in r.stderr, f"-t ok: {r.stderr}")
r = srv.run_cli("-T")
check("link_ttl 900s;" in r.stdout and f"listen 127.0.0.1:{srv.port};" in r.stdout,
      f"-T prints the effective config: {r.stdout[:300]}")

# A warning of -t reads like its other lines ("magicd: [warn] ..."), not
# like an error-log line with a time and a pid.
r = srv.run_cli("-g", "public_url https://login.example.com; cookie_secure off;", "-t")
warn = [x for x in r.stderr.splitlines() if "cookie_secure off" in x]
check(len(warn) == 1 and warn[0].startswith("magicd: [warn] cookie_secure off"),
      f"-t warning: {r.stderr}")

# -g directives apply after the file; errors in them name "command line"
r = srv.run_cli("-g", "link_ttl 3m;", "-T")
check("link_ttl 180s;" in r.stdout, f"-g overrides the file: {r.stdout[:200]}")
r = srv.run_cli("-g", "bogus on;", "-t", check_rc=False)
check(r.returncode != 0 and 'unknown directive "bogus" in command line:1' in r.stderr,
      f"-g error: {r.stderr}")

# a broken config, through an include, names the included file and line
inc = os.path.join(srv.tmp, "extra.conf")
with open(inc, "w") as f:
    f.write("signup on;\n\nlink_ttl forever;\n")
srv.write_conf(srv.extra + "\ninclude extra.conf;")
r = srv.run_cli("-t", check_rc=False)
check(r.returncode != 0, "-t fails on a bad config")
check(f"invalid time \"forever\" in \"link_ttl\" directive in {inc}:3" in r.stderr,
      f"error names file:line: {r.stderr}")
check("test failed" in r.stderr, "says the test failed")
srv.write_conf(srv.extra + "\nworker_processes;")
r = srv.run_cli("-t", check_rc=False)
check(r.returncode != 0 and f"{srv.conf}:" in r.stderr, f"main file line: {r.stderr}")
# starting with a bad config fails the same way, before anything runs
r = subprocess.run([BIN, "-c", srv.conf], capture_output=True, text=True, timeout=10)
check(r.returncode != 0 and "invalid number of arguments" in r.stderr, f"start: {r.stderr}")
srv.write_conf()

# keygen: 0600, refuses to overwrite, and -t checks the key is there
key = os.path.join(srv.tmp, "magicd.key")
mode = stat.S_IMODE(os.stat(key).st_mode)
check(mode == 0o600, f"key mode {oct(mode)}")
before = open(key, "rb").read()
r = srv.run_cli("keygen", check_rc=False)
check(r.returncode != 0 and open(key, "rb").read() == before, "keygen never overwrites")
os.rename(key, key + ".away")
r = srv.run_cli("-t", check_rc=False)
check(r.returncode != 0 and "magicd.key" in r.stderr, f"-t reports a missing key: {r.stderr}")
r = subprocess.run([BIN, "-c", srv.conf], capture_output=True, text=True, timeout=10)
check(r.returncode != 0 and "magicd keygen" in r.stderr,
      f"starting without a key file fails before forking workers: {r.stderr}")
os.rename(key + ".away", key)
# A key file in a directory that does not exist yet (the state directory
# of a service not started yet): the error says to make it.
nodir = os.path.join(srv.tmp, "state", "magicd.key")
r = subprocess.run([BIN, "keygen", nodir], capture_output=True, text=True, timeout=10)
check(r.returncode != 0 and "make the directory" in r.stderr and os.path.join(srv.tmp, "state")
      in r.stderr, f"keygen into a missing directory: {r.stderr}")

# health against a running server, then against nothing
srv.start()
r = srv.run_cli("health", check_rc=False)
check(r.returncode == 0, f"health ok: {r.stdout} {r.stderr}")
# -s with a config that does not load signals nothing (the pid file's path
# is in it), and says so: only the parse error was printed, and a
# `-s reload` read as a reload the master had refused.
srv.write_conf(srv.extra + "\nlink_tll 15m;")
for name, sig in (("reload", "HUP"), ("quit", "QUIT")):
    r = srv.run_cli("-s", name, check_rc=False)
    check(r.returncode != 0 and 'unknown directive "link_tll"' in r.stderr
          and "no signal sent" in r.stderr and f"kill -{sig}" in r.stderr,
          f"-s {name} with a broken config: {r.stderr}")
check(srv.proc.poll() is None, "the master still runs")
srv.write_conf()
srv.stop()
r = srv.run_cli("health", check_rc=False)
check(r.returncode == 1 and "refused" in r.stderr.lower(), f"health down: {r.stderr}")
r = srv.run_cli("-s", "reload", check_rc=False)
check(r.returncode != 0 and "pid file" in r.stderr, f"-s without a master: {r.stderr}")
r = srv.run_cli("-s", "dance", check_rc=False)
check(r.returncode == 2, "bad -s argument")

r = run("version")
check(r.returncode == 0 and r.stdout.startswith("magicd version"), "version")
r = run("-h")
check(r.returncode == 0 and "keygen" in r.stdout and "-s SIGNAL" in r.stdout, "help")
r = run("-x")
check(r.returncode == 2, "bad option")
r = run("-c", srv.conf, "frobnicate")
check(r.returncode == 2 and "unknown command" in r.stderr, "unknown command")

# user management round trip
r = srv.run_cli("user", "add", "x@example.com")
r = srv.run_cli("user", "list")
check("x@example.com" in r.stdout and "demo@example.com" in r.stdout, f"list: {r.stdout}")
r = srv.run_cli("user", "remove", "x@example.com")
r = srv.run_cli("user", "list")
check("x@example.com" not in r.stdout, "removed")
# the shipped example users file imports
from harness import ROOT
r = srv.run_cli("user", "import", os.path.join(ROOT, "conf/users.example.json"))
r = srv.run_cli("user", "list")
check("admin@example.com" in r.stdout, f"example users imported: {r.stdout}")
print("cli ok")
