"""test_smtp: `delivery smtp` sends real mail through a real SMTP relay.

The relay is aiosmtpd (Debian python3-aiosmtpd) on loopback, offering
STARTTLS with a throw-away self-signed certificate and requiring AUTH.
Checked:
  1. the link arrives by mail - over verified TLS (smtp_auth requires
     `smtp_starttls required`), authenticated, with From, To,
     Subject, Date, Message-ID and a text and an HTML part - and the link
     in it signs the browser in (verify -> /secure/1 shows the user);
  2. a recipient the relay refuses for good (550) is not retried: the
     message goes to the spool's failed/ and the log says so;
  3. with the relay down, /magic/generate still answers 200 at once (the
     worker only writes the spool); the link waits in the spool and arrives
     exactly once after the relay comes back;
  4. a link spooled while the relay is down survives a restart of magicd
     and is then delivered exactly once;
  5. `smtp_starttls required` refuses a relay whose certificate it cannot
     verify (the link stays in the spool), and delivers once the relay's CA
     is trusted (SSL_CERT_FILE).
"""
import email
import email.policy
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, Browser, Magicd, check, free_port, skip  # noqa: E402

from spool_util import Sink, aiosmtpd_controller, spool_records  # noqa: E402

aiosmtpd_controller()  # or skip
from aiosmtpd.smtp import AuthResult  # noqa: E402

import logging  # noqa: E402
import ssl  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=".*login_data is deprecated")
# The relay logs the handshakes refused on purpose in phase 4; keep it quiet.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

USER, PASSWORD = "mailer", "s3cret pass"
FROM = "magicd <login@example.com>"
BOUNCE = "bounce@example.com"  # the relay refuses this one for good


class Relay(Sink):
    """The relay of a real deployment: STARTTLS with a throw-away
    certificate, AUTH required over TLS, and a recipient it refuses."""

    def __init__(self, port, tmp):
        super().__init__(port)
        self.cert = cert = os.path.join(tmp, "relay.crt")
        cert, key = os.path.join(tmp, "relay.crt"), os.path.join(tmp, "relay.key")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert, key)

    def handler_class(self):
        class Handler(super().handler_class()):
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address == BOUNCE:
                    return "550 5.1.1 no such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"

        return Handler

    def controller_args(self):
        def auth(server, session, envelope, mechanism, data):
            ok = (data.login.decode() if isinstance(data.login, bytes) else data.login) == USER \
                and (data.password.decode() if isinstance(data.password, bytes)
                     else data.password) == PASSWORD
            return AuthResult(success=ok, handled=False, auth_data=USER if ok else None)

        return {"tls_context": self.tls, "require_starttls": True, "authenticator": auth,
                "auth_required": True, "auth_require_tls": True}


def link_from_mail(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for h in ("From", "To", "Subject", "Date", "Message-ID"):
        check(msg[h], f"mail has no {h} header")
    check(msg.get_content_type() == "multipart/alternative",
          f"mail is {msg.get_content_type()}, want multipart/alternative")
    types = [p.get_content_type() for p in msg.iter_parts()]
    check(types == ["text/plain", "text/html"], f"parts {types}")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    m = re.search(r"https?://\S+/magic/verify/\S+", text)
    check(m, f"no link in the text part: {text!r}")
    link = m.group(0)
    check(link.replace("&", "&amp;") in html, "the HTML part does not carry the same link")
    return msg, link


def sign_in(srv, b, link):
    path = urllib.parse.urlsplit(link).path
    st, h, _ = b.req("POST", path)
    check(st in (302, 303) and h.get("location", "").endswith("/secure/1"),
          f"verify answered {st} {h.get('location')}")
    st, _, body = b.req("POST", "/secure/1")
    check(st == 200 and DEMO.encode() in body, f"/secure/1 answered {st}")


def spooled(srv):
    """The ids of the links waiting in the spool: in a worker's batch file
    (the mailer leaves batches as they are while the relay is down) or in
    a message file of their own."""
    return sorted(r.get("id") for r in spool_records(os.path.join(srv.tmp, "spool")))


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv = Magicd(workers=2, delivery=f"smtp 127.0.0.1:{rport}", users=(DEMO, BOUNCE))
    srv.write_conf(srv.extra + f'\nsmtp_from "{FROM}";\nsmtp_auth {USER} "{PASSWORD}";\n'
                   f"smtp_spool {srv.tmp}/spool;\nsmtp_starttls required;\n"
                   "rate_limit_email 100 1m;\n")
    relay = Relay(rport, srv.tmp)
    relay.start()
    # smtp_auth needs a verified certificate: the mailer trusts the relay's.
    trust = {"SSL_CERT_FILE": relay.cert}
    try:
        srv.start(env=trust)
        try:
            phase_delivery(srv, relay)
            phase_bounce(srv, relay)
            phase_outage(srv, relay)
        finally:
            srv.stop()
        phase_restart(srv, relay, trust)
        phase_required(srv, relay)
    finally:
        relay.stop()
        try:
            srv.stop()
        except AssertionError:
            pass


def phase_delivery(srv, relay):
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate answered {st}")
    relay.wait(1, 20)
    mail_from, rcpts, raw, tls, auth_user = relay.mails[0]
    check(rcpts == [DEMO], f"envelope recipients {rcpts}")
    check(mail_from == "login@example.com", f"envelope sender {mail_from}")
    check(tls, "mail was not sent over STARTTLS although the relay offered it")
    check(auth_user == USER, f"relay saw AUTH as {auth_user!r}")
    msg, link = link_from_mail(raw)
    check(msg["To"].addresses[0].addr_spec == DEMO, f"To: {msg['To']}")
    sign_in(srv, b, link)
    check(not spooled(srv), f"spool still holds {spooled(srv)} after delivery")
    print(f"ok: mail via STARTTLS+AUTH, Message-ID {msg['Message-ID']}, link signs in")


def phase_bounce(srv, relay):
    n0 = relay.count()
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(BOUNCE)
    check(st == 200, f"generate answered {st}")
    failed = os.path.join(srv.tmp, "spool", "failed")
    end = time.time() + 20
    while time.time() < end and not os.listdir(failed):
        time.sleep(0.1)
    check(len(os.listdir(failed)) == 1, f"failed/ holds {os.listdir(failed)}")
    check(not spooled(srv), "a permanently refused message is still queued for retry")
    check(relay.count() == n0, "the relay accepted a message it refused")
    check("moved to failed/" in srv.log(), "the refusal is not in the error log")
    print("ok: 550 from the relay -> message moved to failed/, not retried")


def phase_outage(srv, relay):
    relay.stop()
    n0 = relay.count()
    b = Browser(srv)
    b.login_page()
    t = time.time()
    st, _, _ = b.generate(DEMO)
    took = time.time() - t
    check(st == 200, f"generate answered {st} with the relay down")
    check(took < 2.0, f"generate took {took:.2f}s with the relay down")
    time.sleep(1.5)
    check(len(spooled(srv)) == 1, f"spool holds {spooled(srv)}, want the one link")
    relay.start()
    relay.wait(n0 + 1, 90)
    time.sleep(2)  # a duplicate would show up now
    check(relay.count() == n0 + 1, f"{relay.count() - n0} mails for one link")
    msg, link = link_from_mail(relay.mails[-1][2])
    check(msg["Message-ID"] != email.message_from_bytes(relay.mails[0][2])["Message-ID"],
          "two different links share a Message-ID")
    sign_in(srv, b, link)
    print(f"ok: relay down -> generate 200 in {took * 1000:.0f} ms -> relay up -> "
          "delivered once, link works")


def phase_restart(srv, relay, env):
    # srv was stopped by the `with` block; stop the relay, start magicd,
    # spool a link, restart magicd, then bring the relay back.
    relay.stop()
    n0 = relay.count()
    srv.start(env=env)
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate answered {st}")
    time.sleep(0.5)
    check(len(spooled(srv)) == 1, f"spool holds {spooled(srv)}")
    srv.stop()
    srv.start(env=env)
    relay.start()
    relay.wait(n0 + 1, 90)
    time.sleep(2)
    check(relay.count() == n0 + 1, f"{relay.count() - n0} mails for one link after a restart")
    _, link = link_from_mail(relay.mails[-1][2])
    sign_in(srv, b, link)
    srv.stop()
    print("ok: link spooled before a restart is delivered once after it, and works")


def phase_required(srv, relay):
    srv.write_conf(srv.extra + f'\nsmtp_from "{FROM}";\nsmtp_auth {USER} "{PASSWORD}";\n'
                   f"smtp_spool {srv.tmp}/spool;\nsmtp_starttls required;\n"
                   "rate_limit_email 100 1m;\n")
    n0 = relay.count()
    untrusted = os.path.join(srv.tmp, "no-cas.pem")
    open(untrusted, "w").close()
    srv.start(env={"SSL_CERT_FILE": untrusted, "SSL_CERT_DIR": srv.tmp})
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate answered {st}")
    time.sleep(3)
    check(relay.count() == n0, "mail sent to a relay whose certificate is not trusted")
    check(len(spooled(srv)) == 1, f"spool holds {spooled(srv)}, want the one link")
    check("certificate verify failed" in srv.log(), "no certificate error in the log")
    srv.stop()
    srv.start(env={"SSL_CERT_FILE": relay.cert})
    relay.wait(n0 + 1, 30)
    time.sleep(1)
    check(relay.count() == n0 + 1, f"{relay.count() - n0} mails for one link")
    check(relay.mails[-1][3], "required TLS, but the mail was sent in clear")
    _, link = link_from_mail(relay.mails[-1][2])
    sign_in(srv, b, link)
    srv.stop()
    print("ok: starttls required: untrusted relay refused (link kept), trusted relay delivers")


if __name__ == "__main__":
    main()
