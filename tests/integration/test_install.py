"""What `make install` puts in place serves: the installed html tree (pages,
static files and the mail templates every worker loads at start) passes
`magicd -t`, starts, signs a browser in by link, and renders the mail
(`magicd mail preview`). The installed configuration, given a public_url
and its state paths moved into the test's directory, passes `-t` too.

Before html/mail/ was installed, `-t` said ok on the installed tree and
every worker stopped at start ("mail templates: cannot open").
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, DEMO, ROOT, Magicd, check, skip  # noqa: E402
from session_util import sign_in  # noqa: E402


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    srv = Magicd(workers=1)
    dest = os.path.join(srv.tmp, "dest")
    build = os.path.relpath(os.path.dirname(BIN), ROOT)
    # -o all: install what is built (this binary), never rebuild it here
    # (without the flags it was built with, e.g. make check-asan's).
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "-o", "all", "install",
                        f"BUILD={build}", f"DESTDIR={dest}", "PREFIX=/usr/local"],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"make install: {r.returncode} {r.stderr[-2000:]}")
    html = os.path.join(dest, "usr/local/share/magicd/html")
    for lang in sorted(os.listdir(os.path.join(ROOT, "html", "mail"))):
        for f in ("subject.txt", "body.txt", "body.html"):
            check(os.path.isfile(os.path.join(html, "mail", lang, f)),
                  f"make install left out html/mail/{lang}/{f}")

    srv.extra = f"html_root {html};"
    srv.write_conf()
    r = srv.run_cli("-t", check_rc=False)
    check(r.returncode == 0, f"-t on the installed html tree: {r.stderr}")
    with srv:
        b, h = sign_in(srv, DEMO)
        check(h.get("location", "").endswith("/secure/1"), f"signed in: {h}")
    r = srv.run_cli("mail", "preview", "--text", check_rc=False)
    check(r.returncode == 0 and "123456" in r.stdout, f"mail preview: {r.stderr}")
    print("ok: the installed html tree passes -t, signs in, renders the mail")

    # The installed config, as an operator finishes it (public_url), with
    # its FHS state paths moved here.
    conf = open(os.path.join(dest, "etc/magicd/magicd.conf")).read()
    # Commented out, smtp_spool's default (run/spool beside the config)
    # would be /etc/magicd/run/spool, read-only under the unit's
    # ProtectSystem=strict: `delivery smtp` alone must find a spool in the
    # unit's StateDirectory.
    check(re.search(r"^smtp_spool /var/lib/magicd/spool;", conf, re.M),
          "the installed config's smtp_spool is not /var/lib/magicd/spool")
    # Its head says what it is: the shipped file's said its state was in
    # conf/run/ and every line a default, neither true of this copy.
    head = conf.split("\n## ", 1)[0]
    check("conf/run" not in head and "installed by `make install`" in head
          and "/var/lib/magicd" in head, f"the installed config's head: {head}")
    state = os.path.join(srv.tmp, "state")
    os.makedirs(state)
    conf = re.sub(r"/(var/lib|var/log|run)/magicd/", state + "/", conf)
    conf = conf.replace("/usr/local/share/magicd/html", html)
    conf += "\npublic_url https://login.example.com;\n"
    path = os.path.join(srv.tmp, "installed.conf")
    with open(path, "w") as f:
        f.write(conf)
    subprocess.run([BIN, "-c", path, "keygen"], capture_output=True, timeout=30, check=True)
    r = subprocess.run([BIN, "-c", path, "-t"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"-t on the installed config: {r.stderr}")
    print("ok: the installed config passes -t once public_url is set")


if __name__ == "__main__":
    main()
