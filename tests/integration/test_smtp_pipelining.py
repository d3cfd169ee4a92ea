"""test_smtp_pipelining: with a relay that offers PIPELINING (RFC 2920) the
mailer sends MAIL, RCPT and DATA in one go, one round trip instead of
three; with one that also offers CHUNKING (RFC 3030) the message itself
goes along in the same write (BDAT), one round trip a mail; with one that
offers neither, it waits for each reply.

The relay here is a small SMTP server of the test's own on loopback, so it
can see what the client sent before it answered: after reading MAIL FROM
it waits 50 ms and then looks at what else is in its socket. Checked:
  1. relay with PIPELINING: RCPT TO and DATA were already there for every
     transaction, and every link arrives;
  2. a recipient refused with 550 in a pipelined envelope (the relay then
     answers DATA with 554, as RFC 2920 requires): that link goes to
     failed/, the session goes on, the next link arrives;
  3. relay with PIPELINING and CHUNKING: MAIL, RCPT, BDAT and the whole
     message in the socket before the relay answered anything; every mail
     arrives whole (its octets as counted, not dot-stuffed, no end
     marker); a refused recipient still goes to failed/ and the session
     goes on;
  4. relay without PIPELINING: no transaction was pipelined, every link
     arrives;
  5. a relay that offers PIPELINING and CHUNKING before STARTTLS and
     neither after it (what someone between us and the relay could have
     added to the clear-text EHLO): once TLS is up nothing is pipelined
     and no BDAT is sent (RFC 3207: what came before TLS is forgotten).
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import ask_links, smtp_magicd  # noqa: E402

REFUSED = "refused@example.com"


class Relay:
    def __init__(self, port, pipelining, chunking=False, tls=None):
        # tls (an SSLContext): STARTTLS offered, and the two offered only
        # before it
        self.port, self.pipelining, self.chunking, self.tls = port, pipelining, chunking, tls
        self.tls_used = False
        self.lock = threading.Lock()
        self.rcpts, self.txns = [], []  # txns: pipelined? per MAIL FROM
        self.mails = []  # the octets of each message taken
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        rcpt_ok = False
        secure = False

        def line():
            nonlocal buf
            while b"\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    raise EOFError
                buf += d
            ln, buf = buf.split(b"\r\n", 1)
            return ln

        def octets(n):
            nonlocal buf
            while len(buf) < n:
                d = c.recv(65536)
                if not d:
                    raise EOFError
                buf += d
            got, buf = buf[:n], buf[n:]
            return got

        try:
            c.sendall(b"220 test relay\r\n")
            while True:
                ln = line()
                cmd = ln[:4].upper()
                if cmd == b"EHLO":
                    caps = b"250-PIPELINING\r\n" if self.pipelining and not secure else b""
                    caps += b"250-CHUNKING\r\n" if self.chunking and not secure else b""
                    caps += b"250-STARTTLS\r\n" if self.tls and not secure else b""
                    c.sendall(b"250-test\r\n" + caps + b"250 8BITMIME\r\n")
                elif cmd == b"STAR" and self.tls and not secure:
                    c.sendall(b"220 go ahead\r\n")
                    c = self.tls.wrap_socket(c, server_side=True)
                    buf, secure = b"", True
                    with self.lock:
                        self.tls_used = True
                elif cmd == b"MAIL":
                    time.sleep(0.05)
                    c.setblocking(False)
                    try:
                        buf += c.recv(65536)
                    except (BlockingIOError, ssl.SSLWantReadError):
                        pass
                    c.setblocking(True)
                    with self.lock:
                        if self.chunking:
                            # the whole message too: its BDAT and its size
                            m = buf.split(b"BDAT ", 1)
                            whole = len(m) == 2 and b"\r\n" in m[1] and len(
                                m[1].split(b"\r\n", 1)[1]) >= int(m[1].split(b" ", 1)[0])
                            self.txns.append(b"RCPT TO" in buf and whole)
                        else:
                            self.txns.append(b"RCPT TO" in buf and b"DATA" in buf)
                    rcpt_ok = False
                    c.sendall(b"250 ok\r\n")
                elif cmd == b"RCPT":
                    to = ln.split(b"<", 1)[1].split(b">", 1)[0].decode()
                    if to == REFUSED:
                        c.sendall(b"550 5.1.1 no such mailbox\r\n")
                    else:
                        rcpt_ok = True
                        with self.lock:
                            self.rcpts.append(to)
                        c.sendall(b"250 ok\r\n")
                elif cmd == b"BDAT" and self.chunking:
                    f = ln.split()
                    data = octets(int(f[1]))
                    if not rcpt_ok:
                        c.sendall(b"554 no valid recipients\r\n")
                        continue
                    with self.lock:
                        self.mails.append(data)
                    rcpt_ok = False
                    c.sendall(b"250 queued\r\n")
                elif cmd == b"DATA":
                    if not rcpt_ok:
                        c.sendall(b"554 no valid recipients\r\n")
                        continue
                    c.sendall(b"354 go\r\n")
                    while line() != b".":
                        pass
                    c.sendall(b"250 queued\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                else:
                    c.sendall(b"250 ok\r\n")
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def stop(self):
        self.sock.close()


def run(pipelining, users, refused=(), chunking=False, tls=None):
    rport = free_port()
    relay = Relay(rport, pipelining, chunking, tls)
    srv, spool = smtp_magicd(rport, list(users) + list(refused), starttls="on" if tls else "off")
    try:
        with srv:
            ask_links(srv, list(refused) + list(users))
            end = time.time() + 30
            while time.time() < end:
                with relay.lock:
                    if set(users) <= set(relay.rcpts):
                        break
                time.sleep(0.05)
            end = time.time() + 10
            while refused and not os.listdir(os.path.join(spool, "failed")) and time.time() < end:
                time.sleep(0.05)
            failed = os.listdir(os.path.join(spool, "failed"))
    finally:
        relay.stop()
    with relay.lock:
        run.mails = list(relay.mails)
        run.tls_used = relay.tls_used
        return list(relay.rcpts), list(relay.txns), failed


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"p{i}@example.com" for i in range(5)]
    got, txns, failed = run(True, users, refused=(REFUSED,))
    check(sorted(got) == sorted(users), f"with PIPELINING the relay got {got}, want {users}")
    check(txns and all(txns), f"transactions pipelined: {txns}")
    check(len(failed) == 1, f"the refused link is not (alone) in failed/: {failed}")
    print(f"ok: PIPELINING offered: {len(txns)} envelopes in one round trip each; the 550 "
          "in one went to failed/ and the session went on")

    got, txns, failed = run(True, users, refused=(REFUSED,), chunking=True)
    check(sorted(got) == sorted(users), f"with CHUNKING the relay got {got}, want {users}")
    check(txns and all(txns), f"transactions with their message in one write: {txns}")
    check(len(failed) == 1, f"the refused link is not (alone) in failed/: {failed}")
    check(len(run.mails) == len(users), f"{len(run.mails)} messages by BDAT, want {len(users)}")
    for m in run.mails:
        check(b"\r\nMessage-ID: <" in m and m.endswith(b"\r\n") and not m.endswith(b"\r\n.\r\n")
              and b"/magic/verify/" in m, f"a message taken by BDAT is not whole: {m[-120:]!r}")
    print(f"ok: PIPELINING and CHUNKING offered: {len(txns)} transactions, each with its message "
          "in one write; the refused one went to failed/")

    got, txns, failed = run(False, users)
    check(sorted(got) == sorted(users), f"without PIPELINING the relay got {got}, want {users}")
    check(txns and not any(txns), f"pipelined to a relay that did not offer it: {txns}")
    print(f"ok: no PIPELINING offered: {len(txns)} envelopes, one command at a time")

    tmp = tempfile.mkdtemp(prefix="magicd-relay-")
    cert, key = os.path.join(tmp, "relay.crt"), os.path.join(tmp, "relay.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    got, txns, failed = run(True, users, chunking=True, tls=tls)
    check(run.tls_used, "the mailer did not use STARTTLS")
    check(sorted(got) == sorted(users), f"over TLS the relay got {got}, want {users}")
    check(txns and not any(txns), f"pipelined over TLS on the clear-text EHLO's word: {txns}")
    check(not run.mails, f"{len(run.mails)} BDATs over TLS on the clear-text EHLO's word")
    print(f"ok: PIPELINING and CHUNKING offered only before STARTTLS: {len(txns)} envelopes over "
          "TLS, one command at a time, by DATA")


if __name__ == "__main__":
    main()
