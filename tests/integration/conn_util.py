"""Raw-socket helpers for attacks on the connection layer: connect from a
chosen loopback source address, read one response, and check that a
bystander is still served."""
import socket

GET = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"


def connect(srv, src="127.0.0.1", timeout=5):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout,
                                    source_address=(src, 0))


def read_response(s):
    """One response (headers + Content-Length body) or b"" on EOF/reset."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                return data
            data += d
        head, _, body = data.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":", 1)[1])
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                break
            body += d
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def status(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1 ") else None


def victim_ok(srv, src, n=10):
    bad = []
    for _ in range(n):
        try:
            s = connect(srv, src)
            s.sendall(GET)
            st = status(read_response(s))
            s.close()
        except OSError as e:
            st = repr(e)
        if st != 200:
            bad.append(st)
    return bad
