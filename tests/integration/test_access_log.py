"""The access log: `json` lines parse and carry the request and its id (a
sane X-Request-Id kept, otherwise one made by the worker); `combined`
matches nginx's format with the request id as a last field; writes are
buffered and flushed on the interval; USR1 after a logrotate-style move
(create) starts a new file and loses no line."""
import json
import os
import re
import signal
import time
from harness import Magicd, check

srv = Magicd(workers=1)
srv.extra = f"access_log {srv.tmp}/json.log json buffer=64k flush=1s;"
srv.write_conf()
path = os.path.join(srv.tmp, "json.log")
with srv:
    srv.request("GET", "/login?from=%22test%22", headers={"User-Agent": 'ua "quoted"'})
    srv.request("GET", "/nope", headers={"X-Request-Id": "req-42.a"})
    srv.request("GET", "/nope", headers={"X-Request-Id": "bad id\twith spaces"})
    # buffered: nothing written before the flush interval...
    check(not os.path.exists(path) or os.path.getsize(path) == 0, "buffered, not written at once")
    time.sleep(1.6)
    lines = [json.loads(l) for l in open(path)]
    check(len(lines) >= 2, f"flushed within the interval: {lines}")
    first = [l for l in lines if l["uri"].startswith("/login")][0]
    check(first["method"] == "GET" and first["status"] == 200 and first["bytes_sent"] > 0, f"{first}")
    check(first["user_agent"] == 'ua "quoted"', f"escaping: {first['user_agent']}")
    check(first["remote_addr"] == "127.0.0.1" and "request_time_us" in first, f"{first}")
    check(any(l["uri"] == "/nope" and l["status"] == 404 for l in lines), "404 logged")
    # request ids: a sane X-Request-Id is kept, anything else is replaced
    ids = [l["request_id"] for l in lines]
    check("req-42.a" in ids, f"X-Request-Id not honoured: {ids}")
    made = [i for i in ids if i != "req-42.a"]
    check(len(made) == len(set(made)) and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in made),
          f"generated request ids: {made}")

    # logrotate `create`: move the file, signal USR1, the next lines go to a new file
    os.rename(path, path + ".1")
    srv.signal(signal.SIGUSR1)
    time.sleep(0.5)
    for _ in range(3):
        srv.request("GET", "/healthz")
    time.sleep(1.6)
    new = [json.loads(l) for l in open(path)]
    check(len(new) == 3 and all(l["uri"] == "/healthz" for l in new), f"new file after USR1: {new}")

srv = Magicd(workers=1)
with srv:
    srv.request("GET", "/login", headers={"User-Agent": "curl/8", "Referer": "http://x/"})
    time.sleep(1.6)
    line = [l for l in open(srv.access_log).read().splitlines() if "/login" in l][0]
    check(re.match(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                   r'"GET /login HTTP/1\.1" 200 \d+ "http://x/" "curl/8" "[0-9a-f]{16}"$', line),
          f"combined format: {line}")
print("access log ok")
