"""Started as root with `user nobody` and `delivery smtp`, the spool the
master makes at start (DIR and its tmp/, new/, sent/, failed/) belongs to
the worker user: the workers write the links into new/ and the mailer, as
nobody too, reads them from there. With only DIR handed over, every
generate answered 503 (the workers could not open new/) and the mailer
logged "opendir .../new: Permission denied" on every pass."""
import os
import pwd
import time
from harness import Magicd, Browser, DEMO, check, free_port, skip

if os.geteuid() != 0:
    skip("needs root to test dropping privileges")
try:
    nobody = pwd.getpwnam("nobody")
except KeyError:
    skip("no user nobody")

# A relay nobody listens on: the link waits in the spool, which is all
# this test looks at.
relay = free_port()
srv = Magicd(workers=1, delivery=f"smtp 127.0.0.1:{relay}", extra="user nobody;")
spool = os.path.join(srv.tmp, "spool")
srv.extra = f"user nobody;\nsmtp_spool {spool};\nsmtp_from login@example.com;"
srv.write_conf()
# The state directory belongs to the worker user, as docs/deployment.md
# sets /var/lib/magicd up; the spool itself does not exist yet.
os.chmod(srv.tmp, 0o755)
os.chown(srv.tmp, nobody.pw_uid, nobody.pw_gid)
with srv:
    for d in ("", "tmp", "new", "sent", "failed"):
        st = os.stat(os.path.join(spool, d))
        check(st.st_uid == nobody.pw_uid, f"spool/{d} belongs to nobody: uid {st.st_uid}")
    b = Browser(srv)
    b.login_page()
    st, _, _ = b.generate(DEMO)
    check(st == 200, f"generate with the spool as nobody: {st}\n{srv.log()}")
    time.sleep(1.5)
    log = srv.log()
    check("Permission denied" not in log, f"no permission errors:\n{log}")
print("privileges smtp ok")
