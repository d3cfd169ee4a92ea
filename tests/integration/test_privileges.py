"""Started as root with `user nobody`, the master keeps root while every
child runs as nobody, and the whole login flow still works (the key file is
read by the master; the user store and logs are handed to the worker user)."""
import os
import pwd
import signal
import time
from harness import Magicd, Browser, DEMO, check, skip

if os.geteuid() != 0:
    skip("needs root to test dropping privileges")
try:
    nobody = pwd.getpwnam("nobody")
except KeyError:
    skip("no user nobody")

srv = Magicd(workers=2, extra="user nobody;")
# As an operator would set up /var/lib/magicd: the state directory belongs
# to the worker user (SQLite creates its WAL files next to the database).
os.chmod(srv.tmp, 0o755)
os.chown(srv.tmp, nobody.pw_uid, nobody.pw_gid)
# The access log in a directory of root's, as /var/log is: the master makes
# the file and gives it to the user.
logs = os.path.join(srv.tmp, "logs")
os.makedirs(logs, mode=0o755)
srv.access_log = os.path.join(logs, "access.log")
srv.extra = f"user nobody;\naccess_log {srv.access_log} combined buffer=4k flush=200ms;"
srv.write_conf()
with srv:
    def uid(pid):
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    check(uid(srv.proc.pid)[0] == 0, "master stays root")
    kids = srv.children()
    check(len(kids) >= 2, f"children {kids}")
    for pid, title in kids:
        check(set(uid(pid)) == {nobody.pw_uid}, f"{title} runs as nobody: {uid(pid)}")
    key = os.stat(os.path.join(srv.tmp, "magicd.key"))
    check(key.st_uid == 0 and (key.st_mode & 0o077) == 0, "key file stays root-only")
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate as nobody: {st}")
    link = srv.outbox_links()[-1]["link"]
    st, _, _ = b.req("POST", link[link.index("/magic/verify/"):])
    check(st == 303, f"verify as nobody (writes the used-link ledger): {st}")
    # USR1 after the error log was moved away (a rotation without
    # logrotate's `create`): the master makes it again, as root, and gives
    # it to the user, or the children, as nobody, could not reopen it and
    # went on writing into the moved file.
    os.rename(srv.error_log, srv.error_log + ".1")
    srv.signal(signal.SIGUSR1)
    deadline = time.time() + 5
    while time.time() < deadline and not os.path.exists(srv.error_log):
        time.sleep(0.05)
    time.sleep(0.3)
    st = os.stat(srv.error_log)
    check(st.st_uid == nobody.pw_uid, f"the error log made at USR1 belongs to nobody: {st.st_uid}")
    # The same for the access log in root's directory: the workers, as
    # nobody, could not make it again there, and every line after the USR1
    # was lost.
    os.rename(srv.access_log, srv.access_log + ".1")
    srv.signal(signal.SIGUSR1)
    time.sleep(0.5)
    st, _, _ = srv.request("GET", "/healthz?after-usr1")
    deadline = time.time() + 5
    text = ""
    while time.time() < deadline and "after-usr1" not in text:
        time.sleep(0.1)
        try:
            text = open(srv.access_log).read()
        except OSError:
            pass
    check("after-usr1" in text, f"the access log is written again after USR1: {text!r}")
print("privileges ok")

# Started as root without a `user` line, every child keeps root: said by
# -t and in the error log at start (nothing said it; nginx drops to nobody
# by default). With the line, nothing is said.
r = srv.run_cli("-t")
check("no `user` line" not in r.stderr, f"-t with user nobody: {r.stderr}")
plain = Magicd(workers=1)
r = plain.run_cli("-t")
check("no `user` line" in r.stderr and "test is successful" in r.stderr,
      f"-t as root without user: {r.stderr}")
with plain:
    check("without a `user` line" in plain.log(), f"start as root without user:\n{plain.log()}")
print("root without user: warned")
