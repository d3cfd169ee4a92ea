"""test_auth_stale_length: a GET that declares a body it never sends (what
nginx's auth_request forwards for a POST to the application when the
location lacks `proxy_set_header Content-Length "";`) is answered at once,
and the connection is then closed, instead of waiting out body_timeout and
answering 500.

Checked, over a raw socket so nothing fixes the request on the way:
  1. GET /auth with Content-Length: 120 and no body: the usual 401 within a
     second, then the server closes (the bytes it did not wait for cannot
     be taken for the next request);
  2. the same with the body sent along: answered, and the connection stays
     open for a next request (the body is framed as declared);
  3. a POST that declares a body it never sends still waits for it (and
     gets its 408/500 only after body_timeout), so forms are unchanged.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Magicd, check, skip  # noqa: E402


def status_of(data):
    line = data.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def read_reply(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    return data


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    with Magicd(workers=1, extra="body_timeout 3s;") as srv:
        host = f"127.0.0.1:{srv.port}"
        # 1. the stale Content-Length of an auth_request subrequest
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            t0 = time.time()
            s.sendall(f"GET /auth HTTP/1.1\r\nHost: {host}\r\nContent-Length: 120\r\n\r\n".encode())
            data = read_reply(s, 5)
            took = time.time() - t0
            check(status_of(data) == 401, f"GET /auth with a body never sent: {data[:80]!r}")
            check(took < 1, f"answered after {took:.2f} s: it waited for the body")
            s.settimeout(2)
            rest = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    rest += d
            except socket.timeout:
                check(False, "the connection stayed open after a body that was not read")
        check("came without its body" in srv.log() and "proxy_set_header Content-Length" in srv.log(),
              f"no warning naming the fix in the error log:\n{srv.log()[-600:]}")
        # 2. the body sent along: framed as declared, keep-alive goes on
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(f"GET /auth HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello"
                      f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            s.settimeout(3)
            data = b""
            end = time.time() + 3
            while data.count(b"HTTP/1.1 ") < 2 and time.time() < end:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            check(data.count(b"HTTP/1.1 ") == 2 and b"HTTP/1.1 200" in data,
                  f"a GET whose body came along, then a second request: {data[:300]!r}")
        # 3. a POST still waits for its body
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            t0 = time.time()
            s.sendall(f"POST /magic/generate HTTP/1.1\r\nHost: {host}\r\nContent-Length: 40\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
            data = read_reply(s, 1)
            check(not data, f"a POST was answered before its body: {data[:80]!r}")
    print("ok: GET /auth with a declared body that never comes answered at once and closed; "
          "a body that comes is framed; a POST still waits for its body")


if __name__ == "__main__":
    main()
