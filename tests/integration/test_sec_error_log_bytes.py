"""test_sec_error_log_bytes: a client cannot write raw bytes into the error
log.

The access log escapes what it takes from a request (`"`, `\\` and every
byte outside printable ASCII become \\xHH); the error log has one line that
quotes a request too: GET /auth with a query that is not group=... is
logged (once a second) so an operator sees the typo in the proxy's config.
The parser refuses control bytes below 0x20 in a request line, but not
0x7f-0xff, and not `"`: a signed-in client that can reach /auth (magicd
without nginx in front, or a proxy passing the query on) wrote 8-bit
terminal controls (0x9b is CSI on a terminal that reads C1 controls),
bytes that are not UTF-8 and a forged end of the quoted field straight
into the line, 200 bytes a second.

Attacked on the running server: a signed-in browser asks
/auth?x="\\x9b31m\\xff\\\\ and the error log's line for it holds the query
escaped (\\x22\\x9b31m\\xff\\x5c), no byte outside printable ASCII and no
bare quote inside the quoted field.
"""
import re
import socket
import time

from harness import DEMO, Magicd, check
from session_util import sign_in

with Magicd(workers=1) as srv:
    b, _ = sign_in(srv, DEMO)
    cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b'GET /auth?x="\x9b31m\xff\\ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ' +
              cookie.encode() + b"\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        data += x
    s.close()
    check(data.startswith(b"HTTP/1.1 400"), f"/auth with a stray parameter: {data[:60]!r}")
    time.sleep(0.2)
    log = open(srv.error_log, "rb").read()
    lines = [ln for ln in log.split(b"\n") if b"/auth: the query" in ln]
    check(len(lines) == 1, f"{len(lines)} lines about the query: {lines}")
    line = lines[0]
    check(all(0x20 <= c < 0x7f for c in line), f"raw bytes in the error log: {line!r}")
    m = re.search(rb'the query "([^"]*)" holds', line)
    check(m and m.group(1) == b"x=\\x22\\x9b31m\\xff\\x5c", f"the query as logged: {line!r}")
    print("ok: the query is logged escaped, printable ASCII only:", m.group(1).decode())
