"""Shared helpers for the durable-spool tests (test_spool_*.py).

- build_slow_fsync(tmp): compiles an LD_PRELOAD shim that sleeps
  SLOW_FSYNC_MS in fsync() and fdatasync() and appends "PID\n" to
  SLOW_FSYNC_LOG for every call, so a test can make the disk as slow as it
  likes and count who synced how often.
- spool_records(dir): every message the spool holds, whether still in a
  batch file (new/b.*) or already unpacked by the mailer (new/<32 hex>):
  a list of dicts with the record's keys.
- Sink: a plain SMTP relay on loopback (aiosmtpd) that keeps recipients.
- smtp_magicd(rport, users, workers, starttls): a server (not started)
  delivering by smtp to 127.0.0.1:rport with its spool in its temp dir,
  smtp_starttls as given (off unless said),
  rate limits out of the way, and accounts for users (imported in one go).
- batch_file(addrs, port): the bytes of a batch file holding a link for
  each address, for a test that plays the worker.
- ask_links(srv, users): one browser asks the running server for a link
  for each address in turn; every answer must be 200.
"""
import os
import re
import secrets
import subprocess
import threading
import time

from harness import Browser, Magicd, check, skip

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void slow(void)
{
    const char *ms = getenv("SLOW_FSYNC_MS"), *log = getenv("SLOW_FSYNC_LOG");
    if (log) {
        char line[32];
        int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, line, (size_t)n) < 0) {}
            close(fd);
        }
    }
    long v = ms ? atol(ms) : 0;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (v > 0 && nanosleep(&ts, &ts) != 0) {}
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow();
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow();
    return real(fd);
}
"""


def build_slow_fsync(tmp):
    src = os.path.join(tmp, "slow_fsync.c")
    so = os.path.join(tmp, "slow_fsync.so")
    with open(src, "w") as f:
        f.write(SHIM_C)
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        skip("cannot build the fsync shim: " + r.stderr[-300:])
    return so


def shim_env(so, ms, log):
    env = {"LD_PRELOAD": so, "SLOW_FSYNC_MS": str(ms), "SLOW_FSYNC_LOG": log}
    # Under AddressSanitizer the runtime wants to be first in the link order;
    # the shim only wraps two libc calls, so let it go first.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def fsync_counts(log):
    counts = {}
    try:
        with open(log) as f:
            for line in f:
                line = line.strip()
                if line:
                    counts[int(line)] = counts.get(int(line), 0) + 1
    except FileNotFoundError:
        pass
    return counts


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


BATCH_MAGIC = b"magicd-spool-batch 1\n"
_TRAILER = re.compile(rb"^end (\d+) ([0-9a-f]{16})\n", re.M)


def whole_batches(raw):
    """The whole batches at the start of a batch file, as bytes: a file
    holds one batch or several one after the other (a busy worker writes
    each commit at the next 4 KiB block of the same file), each ending in a
    trailer "end COUNT FNV1A64" over its bytes, then maybe the zeros the
    file was made with. A batch being written, or torn, ends the prefix."""
    raw = raw.rstrip(b"\0")
    p = 0
    while p < len(raw):
        m = _TRAILER.search(raw, p)
        if not m:
            break
        body = raw[p:m.start()]
        if (not body.startswith(BATCH_MAGIC) or int(m.group(2), 16) != fnv1a64(body)
                or body.count(b"\nrecord\n") != int(m.group(1))):
            break
        p = m.end()
        while p < len(raw) and raw[p] == 0:
            p += 1  # each batch starts on a 4 KiB block of its own
    return raw[:p]


def batch_complete(raw):
    """A batch file written whole: every batch in it passes its trailer (an
    empty or all-zero one is a worker's file made ahead, not yet used)."""
    whole = whole_batches(raw)
    return len(whole) > 0 and len(whole) == len(raw.rstrip(b"\0"))


def parse_records(text):
    """Records of a batch file: blocks of "key: value" lines between
    "record" markers."""
    recs, cur = [], None
    for line in text.split("\n"):
        if line == "record" or line.startswith("record "):
            cur = {}
            recs.append(cur)
        elif cur is not None and ": " in line:
            k, v = line.split(": ", 1)
            cur[k] = v
        elif line.startswith("end"):
            cur = None
    return recs


def batch_file(addrs, port):
    """The bytes of a batch file (core/spool_batch.h) of one batch holding
    a link for each address, as a worker writes it."""
    now = int(time.time())
    body = b"magicd-spool-batch 1\n"
    for a in addrs:
        body += (f"record\nid: {secrets.token_hex(16)}\nto: {a}\n"
                 f"url: http://127.0.0.1:{port}/auth/verify?t={secrets.token_hex(8)}\n"
                 f"expires: {now + 900}\ncreated: {now}\ncode: \nlang: \nip: 127.0.0.1\n"
                 "ua: test\n").encode()
    return body + f"end {len(addrs)} {fnv1a64(body):016x}\n".encode()


def spool_records(spool):
    """A file that vanishes while we read (the mailer unpacked a batch or
    sent a message) makes us look again, so nothing is counted twice or
    missed."""
    for _ in range(20):
        out = _spool_records_once(spool)
        if out is not None:
            # During an unpack a record is in its batch and in its own file.
            return list({r.get("id"): r for r in out}.values())
        time.sleep(0.05)
    check(False, "the spool kept changing while it was read")


def _spool_records_once(spool):
    out = []
    new = os.path.join(spool, "new")
    try:
        names = os.listdir(new)
    except FileNotFoundError:
        return out
    for n in names:
        p = os.path.join(new, n)
        try:
            raw = open(p, "rb").read()
        except OSError:
            return None
        text = raw.rstrip(b"\0").decode()
        if n.lstrip(".").startswith(("b.", "bs.", "jb.", "jbs.")):  # j: being sent from
            out += [r for r in parse_records(whole_batches(raw).decode()) if "to" in r]
        elif len(n) == 32:
            rec = {}
            for line in text.split("\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    rec[k] = v
            out.append(rec)
    return out


def aiosmtpd_controller():
    """aiosmtpd's Controller (Debian python3-aiosmtpd), or skip the test."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        import sys
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            skip("aiosmtpd not installed (Debian package python3-aiosmtpd)")
    return Controller


class Sink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it accepts:
    self.mails holds (mail_from, rcpt_tos, raw bytes, over TLS, auth user),
    self.rcpts every recipient. A relay with more to it (STARTTLS, AUTH,
    refused recipients) subclasses it: handler_class() for the hooks,
    controller_args() for aiosmtpd's options."""

    def __init__(self, port):
        self.controller = aiosmtpd_controller()
        self.port = port
        self.mails = []
        self.rcpts = []
        self.lock = threading.Lock()
        self.ctrl = None

    def keep(self, session, envelope):
        with self.lock:
            self.rcpts += list(envelope.rcpt_tos)
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                               envelope.original_content or envelope.content,
                               session.ssl is not None, getattr(session, "auth_data", None)))

    def handler_class(self):
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.keep(session, envelope)
                return "250 OK queued"

        return Handler

    def controller_args(self):
        return {}

    def start(self):
        self.ctrl = self.controller(self.handler_class()(), hostname="127.0.0.1", port=self.port,
                                    **self.controller_args())
        self.ctrl.start()
        return self

    def stop(self):
        if self.ctrl:
            self.ctrl.stop()
            self.ctrl = None

    def count(self):
        with self.lock:
            return len(self.mails)

    def wait(self, n, timeout=20):
        """Until n mails have arrived; the n-th (its raw bytes)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if len(self.mails) >= n:
                    return self.mails[n - 1][2]
            time.sleep(0.05)
        check(False, f"{self.count()} mails after {timeout}s, want {n}")


def smtp_magicd(rport, users, workers=1, starttls="off"):
    """(server, spool dir): see the module's docstring."""
    srv = Magicd(workers=workers, delivery=f"smtp 127.0.0.1:{rport}", users=())
    spool = os.path.join(srv.tmp, "spool")
    srv.write_conf(srv.extra + f"\nsmtp_spool {spool};\nsmtp_starttls {starttls};\n"
                   "rate_limit_email 1000 1m;\nrate_limit_ip 100000 1m;\n")
    imp = os.path.join(srv.tmp, "users.json")
    with open(imp, "w") as f:
        f.write("[" + ",".join('{"email": "%s"}' % u for u in users) + "]")
    srv.run_cli("user", "import", imp)
    return srv, spool


def ask_links(srv, users):
    """See the module's docstring."""
    b = Browser(srv)
    b.login_page()
    for u in users:
        st, _, _ = b.generate(u)
        check(st == 200, f"generate for {u}: {st}")
