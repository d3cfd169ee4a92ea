"""test_mailer_unrecorded: a link sent whose journal line could not be
written (the disk failed just then) gets its line once the disk is back,
and the rest of its batch file goes, with no second copy.

The mailer keeps such a batch file locked until the line is written
(core/spool_batch.c, spool_hold), so that no other mailer sends the link
again; its own look at new/ for batch files cannot take a file it holds,
so it must send from it all the same. An LD_PRELOAD shim fails every
38-byte pwrite (a journal line) while FAIL_FILE exists. magicd (1 worker,
`delivery smtp`, smtp_connections 2) finds a batch file of two links;
the first is sent, its line fails, the file is held: the other mailer,
woken, does not send that link again. Then the disk is back and
something else changes in new/ (a wake, no batch file). Checked: the
second link arrives, the first arrives once, and the batch file leaves
new/.
"""
import os
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, batch_file, smtp_magicd  # noqa: E402

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

ssize_t pwrite(int fd, const void *p, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    const char *flag = getenv("FAIL_FILE");
    if (n == 38 && flag && access(flag, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pwrite");
    return real(fd, p, n, off);
}
"""


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv, spool = smtp_magicd(rport, [])
    with open(srv.conf, "a") as f:
        f.write("smtp_connections 2;\n")
    src, so = os.path.join(srv.tmp, "fail_lines.c"), os.path.join(srv.tmp, "fail_lines.so")
    with open(src, "w") as f:
        f.write(SHIM_C)
    r = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-o", so, src, "-ldl"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        skip("cannot build the pwrite shim: " + r.stderr[-300:])
    flag = os.path.join(srv.tmp, "disk-fails")
    open(flag, "w").close()
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"LD_PRELOAD": so, "FAIL_FILE": flag,
           "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    sink = Sink(rport).start()
    try:
        srv.start(env=env)
        try:
            name = f"b.{secrets.token_hex(8)}.1"
            tmp = os.path.join(spool, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(batch_file(["u1@example.com", "u2@example.com"], srv.port))
            os.rename(tmp, os.path.join(spool, "new", name))
            sink.wait(1, timeout=10)
            time.sleep(0.5)
            with open(os.path.join(spool, "new", "wake1"), "w") as f:
                f.write("not a spool file\n")  # the other mailer looks too
            time.sleep(1.0)
            check(sink.count() == 1, f"{sink.count()} mails while the journal cannot be written "
                  "(the other mailer took the file and sent the link again)")
            os.unlink(flag)  # the disk is back
            with open(os.path.join(spool, "new", "wake"), "w") as f:
                f.write("not a spool file\n")
            end = time.time() + 10
            while sink.count() < 2 and time.time() < end:
                time.sleep(0.05)
            time.sleep(1.0)
            got = list(sink.rcpts)
            check(got.count("u2@example.com") == 1,
                  f"the second link arrived {got.count('u2@example.com')} times once the disk "
                  "was back (its batch file, held by the mailer, was not sent from)")
            check(got.count("u1@example.com") == 1,
                  f"the link sent before the failure arrived {got.count('u1@example.com')} times")
            left = [n for n in os.listdir(os.path.join(spool, "new")) if n.endswith(name)]
            check(not left, f"the batch file stayed in new/: {left}")
            print("ok: the line written once the disk was back, the rest sent, no second copy")
        finally:
            srv.stop()
    finally:
        sink.stop()
    print("ok")


if __name__ == "__main__":
    main()
