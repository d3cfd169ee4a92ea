"""Bad and hostile HTTP gets the right status and a clear body, and the
server keeps serving everyone else: 400 malformed, 414 long request line,
431 big headers, 413 big body, 501 Transfer-Encoding / unknown method, 405,
404, 408 for a slow client; keep-alive and pipelining answer in order."""
import socket
import time
from harness import Magicd, check


def raw(srv, data, timeout=5, shut=False):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


def status(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1 ") else None


def healthy(srv):
    st, _, _ = srv.request("GET", "/healthz")
    check(st == 200, "server still serving")


with Magicd(workers=2, extra="header_timeout 1s;\nbody_timeout 1s;\nmax_body_size 4k;\n"
                             "max_request_line 1k;\nmax_header_size 4k;") as srv:
    cases = [
        ("garbage", b"HELLO\r\n\r\n", 400),
        ("no host", b"GET / HTTP/1.1\r\n\r\n", 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400),
        ("two content-lengths",
         b"POST /magic/generate HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        ("te+cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n", 400),
        ("te", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        ("long line", b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        ("big headers", b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: " + b"b" * 5000 + b"\r\n\r\n", 431),
        ("big body", b"POST /magic/generate HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 413),
        ("unknown method", b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        ("wrong method", b"DELETE /login HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        ("not found", b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("static traversal", b"GET /static/../magicd.key HTTP/1.1\r\nHost: a\r\n\r\n", 404),
    ]
    for name, req, want in cases:
        resp = raw(srv, req)
        check(status(resp) == want, f"{name}: want {want}, got {resp[:80]!r}")
        body = resp.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in resp else b""
        check(str(want).encode() in body, f"{name}: the body says what happened: {body[:80]!r}")
        if want == 405:
            check(b"Allow:" in resp, "405 has Allow")
        healthy(srv)

    # Allow says what the path really takes (from the route table)
    for req, allow in [(b"DELETE /login", b"GET, HEAD"), (b"GET /magic/generate", b"POST"),
                       (b"PUT /magic/verify/abc", b"GET, HEAD, POST"), (b"POST /healthz", b"GET, HEAD")]:
        resp = raw(srv, req + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        check(status(resp) == 405 and b"\r\nAllow: " + allow + b"\r\n" in resp,
              f"{req!r}: want 405 with Allow: {allow!r}, got {resp[:200]!r}")

    # slow client: headers never finish -> 408 after header_timeout
    t0 = time.time()
    resp = raw(srv, b"GET / HTTP/1.1\r\nHost: a\r\n", timeout=5)
    check(status(resp) == 408, f"slow headers: {resp[:60]!r}")
    check(time.time() - t0 < 3.5, "408 arrives about header_timeout later")
    resp = raw(srv, b"POST /magic/generate HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab", timeout=5)
    check(status(resp) == 408, f"slow body: {resp[:60]!r}")
    # a connection that sends nothing is closed without a response
    resp = raw(srv, b"", timeout=5)
    check(resp == b"", "idle connection closed silently")
    healthy(srv)

    # pipelining: three requests in one write, answered in order
    resp = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    codes = [int(x.split(b" ")[1]) for x in resp.split(b"HTTP/1.1 ")[1:] for x in [b"X " + x]]
    check(codes == [200, 404, 200], f"pipelined responses in order: {codes}")
    # half-close after a complete request still gets the answer
    resp = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", shut=True)
    check(status(resp) == 200, "answer after half-close")
    # keep-alive: several requests on one connection; HTTP/1.0 closes
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    for _ in range(3):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        d = s.recv(4096)
        check(d.startswith(b"HTTP/1.1 200"), "keep-alive response")
    s.close()
    resp = raw(srv, b"GET /healthz HTTP/1.0\r\n\r\n")
    check(status(resp) == 200 and b"Connection: close" in resp, "HTTP/1.0 closes")
    # HEAD has no body
    resp = raw(srv, b"HEAD /login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(status(resp) == 200 and resp.endswith(b"\r\n\r\n"), "HEAD without body")
    # static files and 304
    resp = raw(srv, b"GET /static/style.css HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(status(resp) == 200 and b"text/css" in resp, "static css")
    etag = [l.split(b": ", 1)[1] for l in resp.split(b"\r\n") if l.lower().startswith(b"etag:")][0]
    resp = raw(srv, b"GET /static/style.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: " + etag +
               b"\r\nConnection: close\r\n\r\n")
    check(status(resp) == 304, "304 for a matching ETag")
    healthy(srv)
print("http limits ok")
