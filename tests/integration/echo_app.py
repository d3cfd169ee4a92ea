#!/usr/bin/env python3
"""A small real upstream application for the proxy tests: an HTTP server that
answers every GET with a JSON echo of what it received (method, target and
all request headers), so a test can see exactly which identity headers the
proxy in front of it passed on.

    python3 echo_app.py PORT LOGFILE

It listens on 127.0.0.1:PORT, appends one JSON line per request to LOGFILE
(so the test can count the requests that got through), and runs until it is
terminated.
"""
import http.server
import json
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        rec = {"method": self.command, "target": self.path,
               "headers": [[k, v] for k, v in self.headers.items()]}
        with open(self.server.log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        body = json.dumps(rec).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


def main():
    port, log_path = int(sys.argv[1]), sys.argv[2]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo)
    srv.log_path = log_path
    srv.serve_forever()


if __name__ == "__main__":
    main()
