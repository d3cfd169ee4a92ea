"""test_mail: the sign-in mail, rendered from html/mail/ and localised.

A real SMTP server (aiosmtpd, Debian python3-aiosmtpd) on loopback receives
what the mailer process sends. Checked:
  1. the mail is multipart/alternative with a text/plain and a text/html
     part, both from the templates under html/mail/: subject, greeting, the
     link, the 6-digit code, the expiry, the requesting IP and browser, and
     the "did not ask for this? ignore it" line; the code in the mail signs
     the requesting browser in through POST /magic/code;
  2. the language follows the Accept-Language header the browser sent with
     its request (German with umlauts, UTF-8, an RFC 2047 subject), English
     when no shipped language matches, q-values and q=0 honoured;
  3. outbox lines and the error log (delivery log) carry the code and the
     chosen language;
  4. `magicd mail preview [--lang xx] [--html|--text]` renders the templates
     to stdout; an unknown language is a clear error;
  5. a language is added by dropping a new file set under html/mail/ (no
     code change): preview and delivery pick it up.
"""
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, ROOT, Browser, Magicd, check, free_port, skip  # noqa: E402

from spool_util import Sink  # noqa: E402

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


def ask(b, email_addr=DEMO, lang=None, ua=FIREFOX):
    h = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": ua}
    if lang is not None:
        h["Accept-Language"] = lang
    st, _, body = b.req("POST", "/magic/generate", "email=" + urllib.parse.quote(email_addr), h)
    check(st == 200, f"generate answered {st}: {body[:200]}")
    return body


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    check(msg.get_content_type() == "multipart/alternative",
          f"mail is {msg.get_content_type()}, want multipart/alternative")
    types = [p.get_content_type() for p in msg.iter_parts()]
    check(types == ["text/plain", "text/html"], f"parts {types}")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    return msg, text, html


def parts_agree(text, html):
    link = re.search(r"https?://\S+/magic/verify/\S+", text)
    check(link, f"no link in the text part: {text!r}")
    check(link.group(0).replace("&", "&amp;") in html, "the HTML part does not carry the link")
    codes = re.findall(r"^\s*(\d{6})\s*$", text, re.M)
    check(codes, f"no 6-digit code on a line of its own in the text part: {text!r}")
    check(codes[0] in html, "the HTML part does not carry the same code")
    return link.group(0), codes[0]


def phase_smtp(tmp):
    port = free_port()
    sink = Sink(port).start()
    srv = Magicd(workers=2, delivery=f"smtp 127.0.0.1:{port}", tmp=tmp)
    srv.write_conf(srv.extra + '\nsmtp_from "magicd <login@example.com>";\n'
                   f"smtp_spool {srv.tmp}/spool;\nsmtp_starttls off;\n"
                   "rate_limit_email 100 1m;\nlink_ttl 15m;\n")
    try:
        with srv:
            # 1. English by default, every element present, the code signs in
            b = Browser(srv)
            b.login_page()
            ask(b, ua=CHROME_WIN)
            msg, text, html = parse(sink.wait(1))
            check("sign-in" in msg["Subject"].lower(), f"English subject: {msg['Subject']!r}")
            check(text.lstrip().startswith("Hello"), f"English greeting: {text[:80]!r}")
            link, code = parts_agree(text, html)
            for what, s in (("text", text), ("html", html)):
                check("15 minutes" in s, f"no expiry in the {what} part")
                check("127.0.0.1" in s, f"no requesting IP in the {what} part")
                check("Chrome on Windows" in s, f"no browser in the {what} part: {s!r}")
                check("ignore" in s.lower(), f"no 'ignore it' line in the {what} part")
            check("magicd" in html and "<a " in html, "the HTML part has no brand or button")
            ticket = re.search(rb'name="ticket"[^>]*value="([^"]+)"', ask(b, ua=CHROME_WIN))
            check(ticket, "no ticket in the sent page")
            _, text2, html2 = parse(sink.wait(2))
            _, code2 = parts_agree(text2, html2)
            body = urllib.parse.urlencode({"ticket": ticket.group(1).decode(), "code": code2})
            st, h, _ = b.req("POST", "/magic/code", body,
                             {"Content-Type": "application/x-www-form-urlencoded"})
            check(st == 303 and h.get("location") == "/secure/1", f"code from the mail: {st}")
            print(f"ok: English multipart mail with link, code {code}, expiry, IP, browser; "
                  "the mailed code signs in")

            # 2. German, UTF-8, encoded subject
            ask(b, lang="de-DE,de;q=0.9,en;q=0.8", ua=FIREFOX)
            raw = sink.wait(3)
            msg, text, html = parse(raw)
            check(b"=?utf-8?" in raw.lower() or b"=?UTF-8?" in raw, "subject not RFC 2047 encoded")
            check("für" in msg["Subject"] or "Anmelde" in msg["Subject"],
                  f"German subject: {msg['Subject']!r}")
            check(text.lstrip().startswith("Hallo"), f"German greeting: {text[:80]!r}")
            check("gültig" in text and "gültig" in html, "umlauts lost in the German mail")
            check("ignorieren" in text.lower(), "no 'ignore it' line in German")
            check("Firefox on Linux" in text or "Firefox unter Linux" in text,
                  f"browser in the German mail: {text!r}")
            parts_agree(text, html)
            for p in msg.iter_parts():
                check(p.get_content_charset() == "utf-8", f"charset {p.get_content_charset()}")
            print(f"ok: Accept-Language de -> German mail, subject {msg['Subject']!r}")

            # fr is not shipped: English wins over German by q
            ask(b, lang="fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7")
            _, text, _ = parse(sink.wait(4))
            check(text.lstrip().startswith("Hello"), f"fr,en;q=.8,de;q=.7 -> {text[:40]!r}")
            ask(b, lang="fr, de;q=0.5")
            _, text, _ = parse(sink.wait(5))
            check(text.lstrip().startswith("Hallo"), f"fr,de;q=.5 -> {text[:40]!r}")
            ask(b, lang="de;q=0, *;q=0.1")
            _, text, _ = parse(sink.wait(6))
            check(text.lstrip().startswith("Hello"), f"de;q=0 -> {text[:40]!r}")
            ask(b, lang="%%% ;;; q=zz, ,;q=,de;q=2")
            _, text, _ = parse(sink.wait(7))
            check(text.lstrip().startswith("Hello"), "garbage Accept-Language -> English")
            print("ok: q-values honoured, unshipped languages and garbage fall back to English")
    finally:
        sink.stop()


def phase_outbox_log():
    with Magicd(workers=1, extra="rate_limit_email 100 1m;") as srv:
        b = Browser(srv)
        b.login_page()
        ask(b, lang="de")
        d = srv.outbox_links()[-1]
        check(re.fullmatch(r"[0-9]{6}", d.get("code", "")), f"outbox line without a code: {d}")
        check(d.get("lang") == "de", f"outbox line language: {d}")
        ask(b)
        check(srv.outbox_links()[-1].get("lang") == "en", "outbox default language")
    with Magicd(workers=1, delivery="log") as srv:
        b = Browser(srv)
        b.login_page()
        ask(b)
        time.sleep(0.3)
        m = re.search(r"magic link for demo@example.com: \S+.*code (\d{6})", srv.log())
        check(m, f"the error log does not carry the code:\n{srv.log()[-800:]}")
    print("ok: outbox lines carry code and lang; delivery log carries the code")


def preview(srv, *args):
    return subprocess.run([BIN, "-c", srv.conf, "mail", "preview"] + list(args),
                          capture_output=True, timeout=30)


def phase_preview_and_new_language():
    srv = Magicd(workers=1)
    r = preview(srv, "--lang", "de", "--text")
    check(r.returncode == 0, f"preview --text failed: {r.returncode} {r.stderr!r}")
    out = r.stdout.decode()
    check(out.lstrip().startswith("Hallo") and "gültig" in out, f"preview de text: {out[:200]!r}")
    check(re.search(r"/magic/verify/\S+", out) and re.search(r"^\s*\d{6}\s*$", out, re.M),
          "preview has no sample link or code")
    r = preview(srv, "--html")
    out = r.stdout.decode()
    check(r.returncode == 0 and out.lstrip().lower().startswith("<!doctype html")
          and "Hello" in out, f"preview --html: {r.returncode} {out[:200]!r}")
    r = preview(srv)
    check(r.returncode == 0, f"preview (whole message): {r.stderr!r}")
    parse(r.stdout)
    r = preview(srv, "--lang", "xx")
    check(r.returncode != 0 and b"xx" in r.stderr, f"unknown language: {r.returncode} {r.stderr!r}")
    r = preview(srv, "--bogus")
    check(r.returncode != 0, "preview accepts an unknown option")
    print("ok: mail preview renders text, html and the whole message; unknown language refused")

    # a new language is a new file set
    root = os.path.join(srv.tmp, "html")
    shutil.copytree(os.path.join(ROOT, "html"), root)
    fr = os.path.join(root, "mail", "fr")
    shutil.copytree(os.path.join(root, "mail", "en"), fr)
    for name in os.listdir(fr):
        p = os.path.join(fr, name)
        s = open(p, encoding="utf-8").read()
        s = s.replace("Hello", "Bonjour").replace("Your sign-in", "Votre connexion")
        open(p, "w", encoding="utf-8").write(s)
    srv.write_conf()
    conf = open(srv.conf).read().replace(f"html_root {ROOT}/html", f"html_root {root}")
    open(srv.conf, "w").write(conf)
    r = preview(srv, "--lang", "fr", "--text")
    check(r.returncode == 0 and r.stdout.decode().lstrip().startswith("Bonjour"),
          f"preview of the added language: {r.returncode} {r.stdout[:100]!r} {r.stderr!r}")
    with srv:
        b = Browser(srv)
        b.login_page()
        ask(b, lang="fr-FR,fr;q=0.9")
        check(srv.outbox_links()[-1].get("lang") == "fr", "the added language is not chosen")
    print("ok: a new html/mail/fr/ file set is previewed and chosen without a code change")


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    import tempfile
    tmp = tempfile.mkdtemp(prefix="magicd-mail-")
    phase_smtp(tmp)
    phase_outbox_log()
    phase_preview_and_new_language()


if __name__ == "__main__":
    main()
