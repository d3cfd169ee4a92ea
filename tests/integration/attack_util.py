"""Helpers shared by the security tests (test_sec_*.py): a keep-alive client
that carries a browser's CSRF pair and can send from any 127.0.0.0/8 source
address, a tiny tmpfs to run a disk full on, and a reader for the outbox that
treats a line it cannot parse as the failure it is.

Nothing here fakes the server: every request goes over a real socket to the
real build/magicd started by harness.Magicd.
"""
import http.client
import json
import os
import subprocess
import tempfile
import time

from harness import Browser, check, skip


class Client:
    """One keep-alive connection from `source` (a 127.x.y.z address) that
    sends a browser's CSRF cookie and header with every POST."""

    def __init__(self, srv, source="127.0.0.1", browser=None):
        self.srv = srv
        self.source = source
        self.b = browser or Browser(srv)
        if not self.b.csrf:
            self.b.login_page()
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10,
                                               source_address=(self.source, 0))

    def req(self, method, path, body=None, headers=None):
        h = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.b.cookies.items())}
        if method == "POST":
            h["X-CSRF-Token"] = self.b.csrf
        h.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = dict((k.lower(), v) for k, v in r.getheaders())
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def generate(self, email, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.req("POST", "/magic/generate", "email=" + email.replace("@", "%40")
                        .replace("+", "%2B"), h)

    def timed_generate(self, email):
        t = time.perf_counter()
        st, _, _ = self.generate(email)
        return st, time.perf_counter() - t

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class Tmpfs:
    """A tmpfs of `size` bytes mounted on a fresh directory (root only; the
    caller skips the test when mount is refused)."""

    def __init__(self, size):
        self.dir = tempfile.mkdtemp(prefix="magicd-tmpfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                            self.dir], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            os.rmdir(self.dir)
            skip(f"cannot mount a tmpfs to make a full disk ({r.stderr.strip() or 'not root'})")

    def fill(self, name="filler"):
        """Take every free byte: write until ENOSPC. Returns the filler path."""
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        chunk = b"x" * 4096
        try:
            while True:
                try:
                    if os.write(fd, chunk) <= 0:
                        break
                except OSError:
                    break
            # whatever is left in the last page, byte by byte
            while True:
                try:
                    if os.write(fd, b"x") <= 0:
                        break
                except OSError:
                    break
        finally:
            os.close(fd)
        return path

    def umount(self):
        subprocess.run(["umount", "-l", self.dir], capture_output=True, timeout=10)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def outbox_entries(path):
    """Every line of the outbox as JSON; an unparsable line fails the test
    (it is a link somebody was promised and nobody can read)."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return out
    check(not data or data.endswith(b"\n"), f"outbox ends in a partial line: {data[-80:]!r}")
    for i, line in enumerate(data.split(b"\n")[:-1]):
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"outbox line {i + 1} is not JSON: {line[:120]!r}")
    return out


def real_links(entries):
    """Outbox entries that carry a link (decoy records are dropped, as a
    mailer drops them)."""
    return [e for e in entries if not e.get("decoy")]


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
