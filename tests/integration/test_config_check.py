"""A wrong html_root, or a template or static file that is missing or broken,
or an access log, outbox or smtp spool in a directory that cannot exist, is
a configuration error: `magicd -t` fails naming the file, and starting
fails at once with the reason, before the master says "started" and before
the port accepts connections that no worker would answer. A reload with
such a tree is refused and the server goes on with the old one.

A child that cannot start for a configuration reason later (its templates
were removed, then it was replaced) stops the master with that reason
instead of respawning it in a loop while the port accepts and never
answers."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, ROOT, Magicd, check  # noqa: E402


def test_conf(srv, html, expect, extra=""):
    srv.extra = f"html_root {html};\n{extra}"
    srv.write_conf()
    r = srv.run_cli("-t", check_rc=False)
    check(r.returncode != 0 and expect in r.stderr and "test failed" in r.stderr,
          f"-t with html_root {html}: rc {r.returncode}, expected {expect!r} in: {r.stderr}")
    t0 = time.time()
    p = subprocess.run([BIN, "-c", srv.conf], capture_output=True, text=True, timeout=20)
    took = time.time() - t0
    log = srv.log()
    check(p.returncode != 0 and expect in p.stderr,
          f"start with html_root {html}: rc {p.returncode}, expected {expect!r}: {p.stderr}\n{log}")
    check(took < 5, f"start failed at once ({took:.1f}s)")
    check("magicd started" not in log, f"the master did not say started:\n{log}")
    with socket.socket() as s:
        check(s.connect_ex(("127.0.0.1", srv.port)) != 0, "nothing listens after a failed start")


def main():
    srv = Magicd(workers=2)
    html = os.path.join(srv.tmp, "html")
    shutil.copytree(os.path.join(ROOT, "html"), html)

    # A directory without the pages.
    empty = os.path.join(srv.tmp, "empty")
    os.makedirs(empty)
    test_conf(srv, empty, "index.html")
    # A missing page, a missing partial, a broken placeholder.
    os.rename(os.path.join(html, "verify.html"), os.path.join(srv.tmp, "verify.html"))
    test_conf(srv, html, "verify.html")
    os.rename(os.path.join(srv.tmp, "verify.html"), os.path.join(html, "verify.html"))
    os.rename(os.path.join(html, "_head.html"), os.path.join(srv.tmp, "_head.html"))
    test_conf(srv, html, "_head.html")
    os.rename(os.path.join(srv.tmp, "_head.html"), os.path.join(html, "_head.html"))
    sent = open(os.path.join(html, "sent.html")).read()
    with open(os.path.join(html, "sent.html"), "w") as f:
        f.write(sent + "{{Bad-Name}}\n")
    test_conf(srv, html, "sent.html")
    with open(os.path.join(html, "sent.html"), "w") as f:
        f.write(sent)
    # No static directory, and a static file a page refers to gone.
    os.rename(os.path.join(html, "static"), os.path.join(srv.tmp, "static"))
    test_conf(srv, html, "static")
    os.rename(os.path.join(srv.tmp, "static"), os.path.join(html, "static"))
    os.rename(os.path.join(html, "static", "app.js"), os.path.join(srv.tmp, "app.js"))
    test_conf(srv, html, "app.js")
    os.rename(os.path.join(srv.tmp, "app.js"), os.path.join(html, "static", "app.js"))
    # No mail templates (a tree installed without html/mail/), and a
    # language folder missing a file.
    os.rename(os.path.join(html, "mail"), os.path.join(srv.tmp, "mail"))
    test_conf(srv, html, "mail templates")
    os.rename(os.path.join(srv.tmp, "mail"), os.path.join(html, "mail"))
    os.rename(os.path.join(html, "mail", "de", "subject.txt"), os.path.join(srv.tmp, "subject.txt"))
    test_conf(srv, html, "subject.txt")
    os.rename(os.path.join(srv.tmp, "subject.txt"), os.path.join(html, "mail", "de", "subject.txt"))
    # Files every worker appends to, in a directory that does not exist.
    nodir = os.path.join(srv.tmp, "no", "such", "dir")
    test_conf(srv, html, "access log", f"access_log {nodir}/access.log;")
    test_conf(srv, html, "outbox", f"delivery outbox {nodir}/outbox.jsonl;")
    # An smtp spool whose directory cannot be made (a file where a directory
    # should be): without the check, the mailer died and was respawned in a loop.
    test_conf(srv, html, "spool",
              f"delivery smtp 127.0.0.1:9;\nsmtp_spool {srv.conf}/spool;")
    # The master's error log and the user store in a directory that does not
    # exist: -t said ok, and only the start failed.
    test_conf(srv, html, "error log", f"error_log {nodir}/error.log;")
    test_conf(srv, html, "user store", f"users_db {nodir}/users.db;")
    # The same for the pid file (/run/magicd before the unit made it).
    test_conf(srv, html, "pid file", f"pid {nodir}/magicd.pid;")
    # The profiler on the public listener's port: -t said ok, and the start
    # failed with a bare "Address already in use".
    test_conf(srv, html, "profiler_listen",
              f"profiler on;\nprofiler_listen 127.0.0.1:{srv.port};")
    test_conf(srv, html, "profiler_listen",
              f"profiler on;\nprofiler_listen *:{srv.port} public;")
    # A port another program holds: the start names the directive and what
    # to do, not only "Address already in use".
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        tport = taken.getsockname()[1]
        srv.extra = f"html_root {html};\nprofiler on;\nprofiler_listen 127.0.0.1:{tport};"
        srv.write_conf()
        p = subprocess.run([BIN, "-c", srv.conf], capture_output=True, text=True, timeout=20)
        check(p.returncode != 0 and "(profiler_listen)" in p.stderr
              and "name another address in profiler_listen" in p.stderr,
              f"start on a taken profiler port: rc {p.returncode}: {p.stderr}")
    # Lifetimes of 0: -t said ok and every link was dead on arrival (410).
    test_conf(srv, html, "link_ttl 0", "link_ttl 0;")
    test_conf(srv, html, "session_ttl 0", "session_ttl 0;")
    # A `user` or group that does not exist, when started as root: -t said
    # ok, and every child died on it at fork and was respawned in a loop.
    if os.geteuid() == 0:
        test_conf(srv, html, 'user "magicd-no-such-user"', "user magicd-no-such-user;")
        test_conf(srv, html, 'group "magicd-no-such-group"', "user nobody magicd-no-such-group;")
        # The user store in a directory root may write and `user` may not:
        # -t (run as root) said ok, and each worker, as nobody, died on
        # "attempt to write a readonly database" (SQLite makes its -wal
        # and -shm files beside the store).
        rootstate = os.path.join(srv.tmp, "rootstate")
        os.makedirs(rootstate, mode=0o755)
        os.chmod(srv.tmp, 0o755)
        test_conf(srv, html, 'not writable by user "nobody"',
                  f"user nobody;\nusers_db {rootstate}/users.db;")
        os.chmod(srv.tmp, 0o700)

    srv.extra = f"html_root {html};"
    srv.write_conf()
    r = srv.run_cli("-t")
    check("test is successful" in r.stderr, f"-t with the tree restored: {r.stderr}")

    # -t leaves nothing behind: files it made as root would be root's, and
    # the workers (running as `user`) could not open them at start.
    fresh = os.path.join(srv.tmp, "fresh")
    os.makedirs(fresh)
    for delivery in (f"delivery outbox {fresh}/outbox.jsonl;",
                     f"delivery smtp 127.0.0.1:25;\nsmtp_spool {fresh}/spool;"):
        srv.extra = (f"html_root {html};\n{delivery}\naccess_log {fresh}/access.log;\n"
                     f"error_log {fresh}/error.log;")
        srv.write_conf()
        r = srv.run_cli("-t", check_rc=False)
        check("test is successful" in r.stderr, f"-t with files to be made: {r.stderr}")
        check(not os.listdir(fresh), f"-t made {os.listdir(fresh)}")
    srv.extra = f"html_root {html};"
    srv.write_conf()

    with srv:
        # A reload into a broken tree is refused; the old workers go on.
        srv.write_conf(f"html_root {os.path.join(srv.tmp, 'empty')};")
        srv.signal(signal.SIGHUP)
        end = time.time() + 10
        while time.time() < end and "reload failed" not in srv.log():
            time.sleep(0.1)
        check("reload failed" in srv.log() and "index.html" in srv.log(),
              f"reload refused, naming the file:\n{srv.log()}")
        st, _, _ = srv.request("GET", "/login")
        check(st == 200, "still serving after the refused reload")
        # `-s reload` with a file the master will refuse says so on the
        # terminal (the reason was only in the log).
        srv.write_conf(f"html_root {html};\nlink_ttl 0;")
        r = srv.run_cli("-s", "reload", check_rc=False)
        check("link_ttl 0" in r.stderr and "will refuse this reload" in r.stderr,
              f"-s reload of a refused config: rc {r.returncode}: {r.stderr}")
        st, _, _ = srv.request("GET", "/login")
        check(st == 200, "still serving after the refused -s reload")
        srv.write_conf()

        # The templates disappear, then a worker is replaced: the new one
        # cannot start, and the master stops with that reason.
        os.rename(html, html + ".away")
        os.kill(srv.worker_pids()[0], signal.SIGKILL)
        try:
            rc = srv.proc.wait(10)
        except subprocess.TimeoutExpired:
            check(False, f"the master kept respawning instead of stopping:\n{srv.log()}")
        log = srv.log()
        check(rc != 0, f"the master exits non-zero: {rc}")
        check("cannot start" in log and "index.html" in log,
              f"the reason is in the log:\n{log}")
        check(log.count("worker cannot start") <= 2, f"no respawn loop:\n{log}")
        with socket.socket() as s:
            check(s.connect_ex(("127.0.0.1", srv.port)) != 0, "the port is closed")
    print("config check ok")


if __name__ == "__main__":
    main()
