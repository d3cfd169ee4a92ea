"""test_sec_profiler_rebind: a web page cannot read the profiler through
DNS rebinding.

The profiler listens on loopback, and SECURITY.md sends the operator there
through `ssh -L 6060:127.0.0.1:6060`, i.e. to a loopback port on the very
machine whose browser visits other sites. A page on attacker.example whose
name the attacker then re-points at 127.0.0.1 is, for the browser, same
origin with http://attacker.example:6060/: its script may fetch and read
/metrics (which tells whether an address has an account while the page
asks for links), /debug/pprof/goroutine?debug=2 (peers and request lines of
connections in flight), cmdline, symbols, and start CPU profiles at will.
What tells the request apart is its Host header: the attacker's name.

Attacked on the running server (profiler without a token, as shipped):
  - every profiler path asked with `Host: attacker.example:PORT` (and a
    few spellings: no port, upper case, a trailing dot, a name that starts
    like an address) is refused 403 and shows nothing; before, 200 with
    the data;
  - the Host headers a local client sends (127.0.0.1:PORT, localhost,
    LOCALHOST:PORT, x.localhost, [::1]:PORT) and an HTTP/1.0 request
    without Host still read /metrics;
  - with profiler_auth_token_file the token is what decides (a rebound page
    does not have it): the right token with any Host reads.
"""
import os
import socket

from harness import Magicd, check

NAMES = ["attacker.example:{port}", "attacker.example", "ATTACKER.EXAMPLE:{port}",
         "attacker.example.:{port}", "127.0.0.1.attacker.example:{port}", "127.0.0.1.nip.io",
         "localhost.attacker.example:{port}", "[::1].attacker.example"]
LOCAL = ["127.0.0.1:{port}", "127.0.0.1", "localhost", "LOCALHOST:{port}", "x.localhost:{port}",
         "[::1]:{port}", "[::ffff:127.0.0.1]"]
PATHS = ["/metrics", "/debug/pprof/", "/debug/pprof/goroutine?debug=2", "/debug/pprof/cmdline",
         "/debug/pprof/heap?debug=1", "/debug/pprof/symbol", "/debug/pprof/profile?seconds=1",
         "/nope"]


def get(port, path, host, headers=(), version="1.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        hdr = f"Host: {host}\r\n" if host is not None else ""
        s.sendall((f"GET {path} HTTP/{version}\r\n{hdr}" + "".join(h + "\r\n" for h in headers) +
                   "Connection: close\r\n\r\n").encode())
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


with Magicd(workers=1) as srv:
    p = srv.pport
    for name in NAMES:
        host = name.format(port=p)
        for path in PATHS:
            st, body = get(p, path, host)
            check(st == 403, f"Host {host!r} {path}: {st} {body[:120]!r}")
            check(b"magicd_" not in body and b"goroutine" not in body,
                  f"Host {host!r} {path}: the refusal shows data")
    print(f"ok: {len(NAMES)} rebinding names x {len(PATHS)} paths refused 403")
    for name in LOCAL:
        host = name.format(port=p)
        st, body = get(p, "/metrics", host)
        check(st == 200 and b"magicd_workers" in body, f"Host {host!r} /metrics: {st}")
    st, body = get(p, "/metrics", None, version="1.0")
    check(st == 200 and b"magicd_workers" in body, f"HTTP/1.0 without Host: {st}")
    print("ok: loopback addresses, localhost and no Host still read the profiler")

srv = Magicd(workers=1)
token = "cmViaW5kaW5nLXRlc3QtdG9rZW4tZm9yLXByb2ZpbGVy"
tok = os.path.join(srv.tmp, "pprof.token")
with open(tok, "w") as f:
    f.write(token + "\n")
os.chmod(tok, 0o600)
srv.write_conf(srv.extra + f"\nprofiler_auth_token_file {tok};\n")
with srv:
    p = srv.pport
    host = f"attacker.example:{p}"
    st, _ = get(p, "/metrics", host)
    check(st == 401, f"token set, no token, Host {host}: {st}")
    st, body = get(p, "/metrics", host, [f"Authorization: Bearer {token}"])
    check(st == 200 and b"magicd_workers" in body, f"token set, right token, Host {host}: {st}")
    print("ok: with a token file the token decides, whatever the Host")
