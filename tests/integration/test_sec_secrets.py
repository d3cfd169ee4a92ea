#!/usr/bin/env python3
"""Secrets in transit and at rest (issue 9.8), against the running server.

  1. SMTP credentials: a config with smtp_auth but without
     `smtp_starttls required` is refused (-t and start); and a relay that
     advertises AUTH but no STARTTLS never receives the password (a real
     SMTP server, aiosmtpd, playing the downgrading relay).
  2. Files: the error log, the access log, the outbox and the spool are
     created 0600/0640 under umask 022, also when USR1 reopens the logs
     after a rotation (the access log holds tokens, `delivery log` puts
     every link in the error log).
  3. The profiler: every shipped config binds it to loopback; a
     non-loopback profiler_listen is refused unless it says `public` or
     has profiler_auth_token_file; with a token file every endpoint needs
     `Authorization: Bearer TOKEN` (401 otherwise) and the right token
     reads profiles.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, ROOT, Browser, Magicd, check, free_port, skip  # noqa: E402


def conf_check(srv, extra):
    conf = os.path.join(srv.tmp, "check.conf")
    with open(conf, "w") as f:
        f.write(srv.conf_text(srv.extra + "\n" + extra))
    r = subprocess.run([BIN, "-c", conf, "-t"], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr, conf


# ---- 1. SMTP credentials ---------------------------------------------------

def smtp_auth_needs_verified_tls():
    rport = free_port()
    srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{rport}", profiler=False)
    try:
        base = f"smtp_spool {srv.tmp}/spool;\nsmtp_auth mailer \"s3cret pass\";\n"
        for tls in ("on", "off"):
            rc, out, conf = conf_check(srv, base + f"smtp_starttls {tls};")
            check(rc != 0, f"smtp_auth with smtp_starttls {tls} accepted:\n{out}")
            check("smtp_starttls required" in out, f"the message does not say what to set: {out}")
            p = subprocess.run([BIN, "-c", conf], capture_output=True, text=True, timeout=30)
            check(p.returncode != 0, f"started with smtp_auth and smtp_starttls {tls}")
        rc, out, _ = conf_check(srv, base)  # the default is "on": refused too
        check(rc != 0, "smtp_auth with the default smtp_starttls accepted")
        rc, out, _ = conf_check(srv, base + "smtp_starttls required;")
        check(rc == 0, f"smtp_auth with smtp_starttls required refused: {out}")
        print("ok: smtp_auth is refused unless smtp_starttls is required")

        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult
        except ImportError:
            sys.path.append("/usr/lib/python3/dist-packages")
            try:
                from aiosmtpd.controller import Controller
                from aiosmtpd.smtp import AuthResult
            except ImportError:
                print("skip part: aiosmtpd not installed")
                return
        seen = []

        def auth(server, session, envelope, mechanism, data):
            seen.append((mechanism, data))
            return AuthResult(success=True, handled=False)

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                seen.append(("DATA", envelope.rcpt_tos))
                return "250 OK"

        import logging
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        # No tls_context: the relay offers AUTH in clear and no STARTTLS.
        ctrl = Controller(Handler(), hostname="127.0.0.1", port=rport, authenticator=auth,
                          auth_require_tls=False)
        ctrl.start()
        try:
            srv.write_conf(srv.extra + "\n" + base + "smtp_starttls required;\n")
            with srv:
                b = Browser(srv)
                b.login_page()
                st, _, _ = b.generate(DEMO)
                check(st == 200, f"generate: {st}")
                deadline = time.time() + 4
                while time.time() < deadline and "does not offer STARTTLS" not in srv.log():
                    time.sleep(0.1)
                check("does not offer STARTTLS" in srv.log(), "mailer did not refuse the relay")
        finally:
            ctrl.stop()
        check(not seen, f"the relay without STARTTLS received {seen}")
        print("ok: a relay without STARTTLS never receives the password (or the mail)")
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


# ---- 2. file modes -----------------------------------------------------------

def mode(path):
    return os.stat(path).st_mode & 0o777


def file_modes():
    old = os.umask(0o022)
    try:
        srv = Magicd(workers=1)
        try:
            with srv:
                b = Browser(srv)
                b.login_page()
                st, _, _ = b.generate(DEMO)
                check(st == 200, f"generate: {st}")
                time.sleep(0.5)  # access log flush
                for p in (srv.error_log, srv.access_log, srv.outbox):
                    check(os.path.exists(p), f"{p} missing")
                    check(mode(p) in (0o600, 0o640), f"{os.path.basename(p)} is {mode(p):04o}")
                # logrotate: move the files away, USR1 reopens (creates) them
                for p in (srv.error_log, srv.access_log, srv.outbox):
                    os.rename(p, p + ".1")
                srv.signal(signal.SIGUSR1)
                deadline = time.time() + 5
                while time.time() < deadline and not all(
                        os.path.exists(p) for p in (srv.error_log, srv.access_log)):
                    b.req("GET", "/healthz")
                    time.sleep(0.2)
                b.generate(DEMO)
                time.sleep(0.5)
                for p in (srv.error_log, srv.access_log, srv.outbox):
                    check(os.path.exists(p), f"{p} not reopened")
                    check(mode(p) in (0o600, 0o640),
                          f"reopened {os.path.basename(p)} is {mode(p):04o}")
        finally:
            shutil.rmtree(srv.tmp, ignore_errors=True)
        rport = free_port()
        srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{rport}", profiler=False)
        try:
            srv.write_conf(srv.extra + f"\nsmtp_spool {srv.tmp}/spool;\nsmtp_starttls off;\n")
            with srv:
                b = Browser(srv)
                b.login_page()
                st, _, _ = b.generate(DEMO)
                check(st == 200, f"generate: {st}")
                spool = os.path.join(srv.tmp, "spool")
                check(mode(spool) == 0o700, f"spool is {mode(spool):04o}")
                for sub in os.listdir(spool):
                    d = os.path.join(spool, sub)
                    check(mode(d) == 0o700, f"spool/{sub} is {mode(d):04o}")
                    for n in os.listdir(d):
                        try:  # batch files made ahead come and go meanwhile
                            m = mode(os.path.join(d, n))
                        except FileNotFoundError:
                            continue
                        check(m == 0o600, f"spool/{sub}/{n} is {m:04o}")
        finally:
            shutil.rmtree(srv.tmp, ignore_errors=True)
    finally:
        os.umask(old)
    print("ok: logs, outbox and spool are 0600/0640 under umask 022, also after USR1")


# ---- 3. the profiler ---------------------------------------------------------

def shipped_profiler_on_loopback():
    for name in ("magicd.conf", "container.conf"):
        text = open(os.path.join(ROOT, "conf", name)).read()
        m = re.findall(r"^\s*profiler_listen\s+([^;\s]+)", text, re.M)
        check(m, f"conf/{name} does not set profiler_listen")
        for addr in m:
            host = addr.rsplit(":", 1)[0].strip("[]")
            check(host in ("127.0.0.1", "::1", "localhost"),
                  f"conf/{name} binds the profiler to {addr}")
    print("ok: the shipped configs bind the profiler to loopback")


def profiler_exposure_needs_a_setting():
    srv = Magicd(workers=1)
    try:
        p = free_port()
        rc, out, _ = conf_check(srv, f"profiler_listen 0.0.0.0:{p};")
        check(rc != 0, f"profiler on 0.0.0.0 without public or a token accepted:\n{out}")
        check("public" in out and "profiler_auth_token_file" in out,
              f"the message does not say what to set: {out}")
        rc, out, _ = conf_check(srv, f"profiler_listen 0.0.0.0:{p} public;")
        check(rc == 0, f"profiler_listen ... public refused: {out}")
        tok = os.path.join(srv.tmp, "pprof.token")
        with open(tok, "w") as f:
            f.write("a" * 40 + "\n")
        os.chmod(tok, 0o600)
        rc, out, _ = conf_check(srv, f"profiler_listen 0.0.0.0:{p};\n"
                                f"profiler_auth_token_file {tok};")
        check(rc == 0, f"non-loopback profiler with a token file refused: {out}")
        for bad, why in (("", "empty"), ("short", "short")):
            with open(tok, "w") as f:
                f.write(bad)
            rc, out, _ = conf_check(srv, f"profiler_auth_token_file {tok};")
            check(rc != 0, f"a {why} token file accepted")
        rc, out, _ = conf_check(srv, f"profiler_auth_token_file {srv.tmp}/missing;")
        check(rc != 0, "a missing token file accepted")
        print("ok: a non-loopback profiler needs `public` or a token file; bad token files "
              "are refused")
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


def raw_get(port, path, headers=()):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\n" + "".join(h + "\r\n" for h in headers) +
                   "Connection: close\r\n\r\n").encode())
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    finally:
        s.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(head.split()[1]), head


def profiler_token():
    srv = Magicd(workers=1)
    token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
    tok = os.path.join(srv.tmp, "pprof.token")
    with open(tok, "w") as f:
        f.write(token + "\n")
    os.chmod(tok, 0o600)
    srv.write_conf(srv.extra + f"\nprofiler_auth_token_file {tok};\n")
    try:
        with srv:
            paths = ["/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap",
                     "/debug/pprof/goroutine?debug=1", "/debug/pprof/symbol",
                     "/debug/pprof/profile?seconds=1", "/debug/pprof/allocs?debug=1",
                     "/debug/pprof/nosuch", "/", "/metrics"]
            wrong = ["", "Authorization: Bearer", "Authorization: Bearer " + token[:-1],
                     "Authorization: Bearer " + token + "x", "Authorization: Basic " + token,
                     "Authorization: bearer  " + token[:10]]
            for p in paths:
                for w in wrong:
                    st, head = raw_get(srv.pport, p, [w] if w else [])
                    check(st == 401, f"{p} with {w or 'no header'!r}: {st}")
                    check("www-authenticate: bearer" in head.lower(), f"{p}: {head}")
            for p in paths:
                st, _ = raw_get(srv.pport, p, ["Authorization: Bearer " + token])
                want = 404 if p in ("/debug/pprof/nosuch", "/", "/metrics") else 200
                check(st == want or (want == 404 and st in (404, 200)),
                      f"{p} with the right token: {st}")
            r = subprocess.run([BIN, "-c", srv.conf, "-T"], capture_output=True, text=True,
                               timeout=30)
            check(token not in r.stdout + r.stderr, "-T prints the profiler token")
        print("ok: with profiler_auth_token_file every endpoint needs the bearer token")
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    shipped_profiler_on_loopback()
    smtp_auth_needs_verified_tls()
    file_modes()
    profiler_exposure_needs_a_setting()
    profiler_token()
    print("ok")


if __name__ == "__main__":
    main()
