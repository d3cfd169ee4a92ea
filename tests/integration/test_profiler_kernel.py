"""Kernel frames in CPU profiles, where the kernel allows them, and a word
saying so where it does not.

Under generate load (every request writes its answer to a loopback TCP
socket and its link to the outbox file):
- every sample has a `mode` label, `user` or `kernel`, and the profile
  says once, in its comments, whether it has kernel frames;
- where the workers may sample the kernel (perf_event_paranoid <= 1, or
  root / CAP_PERFMON), samples taken inside write() show the kernel's
  frames before the user ones, symbolized from /proc/kallsyms in a
  [kernel.kallsyms] mapping: the socket write goes through tcp_sendmsg,
  and the frame after the kernel's is the user-space caller (the libc
  write wrapper); go tool pprof reads it (-tagfocus=mode=kernel);
- where the kernel refuses, every sample is mode=user and the comment
  says why. Run as root, the refused case is made for real too: a server
  with `user nobody` has unprivileged workers (when perf_event_paranoid
  is above 1, as it is by default). Unprivileged, the kernel-frames
  assertion is skipped with the reason printed.
"""
import os
import pwd

from harness import Magicd, check
from profiler_util import LOAD_CONF, Load, decode_profile, need_go, pprof_tool

need_go()
KMIN = 0xffff800000000000


def paranoid():
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read())
    except OSError:
        return None


def profile(srv):
    load = Load(srv, 5, connections=8).start()
    st, _, body = srv.pprof("/debug/pprof/profile?seconds=4")
    load.wait()
    check(st == 200, f"profile status {st}")
    return body


def examine(body, name):
    """The profile's kernel-frames comment, checked; True when it has them."""
    p = decode_profile(body)
    notes = [c for c in p["comments"] if c.startswith("magicd: kernel frames:")]
    check(len(notes) == 1, f"{name}: want one kernel-frames comment, got {notes}")
    print(f"{name}: {notes[0]}")
    modes = {}
    for v, l, locs in p["samples"]:
        m = l.get("mode")
        check(m in ("user", "kernel"), f"{name}: a sample without a mode label: {l}")
        modes[m] = modes.get(m, 0) + v[0]
        leaf = p["locations"][locs[0]]["address"] if locs else 0
        check((m == "kernel") == (leaf >= KMIN), f"{name}: mode {m} for leaf {leaf:#x}")
    print(f"{name}: samples by mode {modes}")
    on = "perf_event callchains" in notes[0]
    if not on:
        check(not modes.get("kernel"), f"{name}: kernel samples in a profile without them")
        return False
    check(modes.get("kernel", 0) > 0, f"{name}: kernel frames on, yet no kernel sample")
    kmap = [m for m in p["mappings"] if m["filename"] == "[kernel.kallsyms]"]
    check(len(kmap) == 1 and kmap[0].get("has_functions"), f"{name}: kernel mapping {kmap}")

    def fname(loc):
        return [p["functions"][f]["name"] for f, _ in p["locations"][loc]["lines"]]

    sendmsg = 0
    for v, l, locs in p["samples"]:
        if l.get("mode") != "kernel":
            continue
        for loc in locs:
            check(p["locations"][loc].get("mapping_id") is not None, f"{name}: unmapped frame")
        names = [n for loc in locs for n in fname(loc)]
        kern = [loc for loc in locs if p["locations"][loc]["address"] >= KMIN]
        user = locs[len(kern):]
        check(kern == locs[:len(kern)] and user, f"{name}: kernel frames not first: {names}")
        if "tcp_sendmsg" in names:
            sendmsg += v[0]
            caller = fname(user[0])
            check(any("write" in n or "send" in n for n in caller),
                  f"{name}: tcp_sendmsg's user-space caller is {caller}")
    print(f"{name}: {sendmsg} samples under tcp_sendmsg")
    check(sendmsg > 0, f"{name}: no sample shows the socket write's tcp_sendmsg")
    top = pprof_tool(["-top", "-tagfocus=mode=kernel", "-nodecount=200"], body)
    check("do_syscall_64" in top or "entry_SYSCALL" in top, top[:1500])
    return True


with Magicd(workers=2, extra=LOAD_CONF) as srv:
    body = profile(srv)
on = examine(body, "server")
if not on:
    print(f"SKIP kernel frames: the kernel refuses them here (perf_event_paranoid "
          f"{paranoid()}, euid {os.geteuid()}); mode labels and the comment were checked")

# As root, the refused case for real: workers running as nobody.
try:
    nobody = pwd.getpwnam("nobody")
except KeyError:
    nobody = None
if os.geteuid() == 0 and nobody:
    srv = Magicd(workers=1, extra=LOAD_CONF + "user nobody;\n")
    os.chmod(srv.tmp, 0o755)
    os.chown(srv.tmp, nobody.pw_uid, nobody.pw_gid)
    with srv:
        body = profile(srv)
    on_nobody = examine(body, "workers as nobody")
    if (paranoid() or 0) >= 2:
        check(not on_nobody, "unprivileged workers got kernel frames with perf_event_paranoid >= 2")
print("ok")
