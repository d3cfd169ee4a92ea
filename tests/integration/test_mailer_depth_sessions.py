"""test_mailer_depth_sessions: magicd_mail_queue_depth with smtp_connections
N follows the backlog down while some mailers send and the others wait
out their relay's back-off.

A relay that takes fewer sessions than N (here 2 of 4: "421 too many
connections" to the rest) leaves some mailers backing off while the
others send the batch files. Each mailer wrote its own count of the
links in batch files to the one gauge: the ones backing off the count of
their last try, on every pass, and the ones sending that count less only
what they sent themselves; the gauge went back up to it (291 links
waiting, it said, with 84). magicd (2 workers, `delivery smtp`) spools
300 links with the relay down, then a relay that takes 2 sessions comes
up. Checked, sampling the gauge while the backlog drains:
  1. it never says more than 100 links above what is still to arrive;
  2. every link arrives once, and the gauge ends at 0.
"""
import asyncio
import os
import re
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import ask_links, smtp_magicd  # noqa: E402

N = 300
SESSIONS = 2
SLACK = 100  # the gauge is written after each pass, not each mail


class TwoSessionRelay:
    """A plain SMTP relay that refuses a session past SESSIONS with 421."""

    def __init__(self, port):
        self.port = port
        self.active = 0
        self.refused = 0
        self.rcpts = []
        self.lock = threading.Lock()
        self.loop = None

    async def session(self, r, w):
        if self.active >= SESSIONS:
            self.refused += 1
            w.write(b"421 4.7.0 too many connections\r\n")
            await w.drain()
            w.close()
            return
        self.active += 1
        try:
            w.write(b"220 relay\r\n")
            rcpt, data = None, False
            while True:
                line = await r.readline()
                if not line:
                    break
                if data:
                    if line == b".\r\n":
                        data = False
                        with self.lock:
                            self.rcpts.append(rcpt)
                        await asyncio.sleep(0.03)
                        w.write(b"250 ok\r\n")
                        await w.drain()
                    continue
                cmd = line[:4].upper()
                if cmd == b"RCPT":
                    rcpt = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                if cmd == b"DATA":
                    data = True
                    w.write(b"354 go\r\n")
                elif cmd == b"QUIT":
                    w.write(b"221 bye\r\n")
                    await w.drain()
                    break
                else:
                    w.write(b"250 relay\r\n")
                await w.drain()
        finally:
            self.active -= 1
            w.close()

    def start(self):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self.session, "127.0.0.1", self.port))
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self):
        if self.loop:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def delivered(self):
        with self.lock:
            return list(self.rcpts)


def depth(srv):
    text = urllib.request.urlopen(f"http://127.0.0.1:{srv.pport}/metrics", timeout=5).read()
    return int(re.search(rb"^magicd_mail_queue_depth (\S+)", text, re.M).group(1))


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    users = [f"l{i}@example.com" for i in range(N)]
    rport = free_port()
    srv, spool = smtp_magicd(rport, users, workers=2)
    with open(srv.conf, "a") as f:
        f.write("smtp_connections 4;\n")
    relay = TwoSessionRelay(rport)
    try:
        with srv:
            for i in range(0, N, 30):
                ask_links(srv, users[i:i + 30])
            # The mailers count the batch files only when they try the
            # relay, and their back-off while it is down doubles (1, 2, 4,
            # 8, 16 s): the count after the last link may be 16 s away,
            # more on a slow build (ASan).
            end = time.time() + 45
            while depth(srv) != N and time.time() < end:
                time.sleep(0.1)
            check(depth(srv) == N, f"queue depth {depth(srv)} with the relay down, want {N}")
            relay.start()
            worst, samples = 0, 0
            end = time.time() + 60
            while len(set(relay.delivered())) < N and time.time() < end:
                waiting = N - len(set(relay.delivered()))
                d = depth(srv)
                worst = max(worst, d - waiting)
                samples += 1
                time.sleep(0.1)
            got = relay.delivered()
            check(len(set(got)) == N, f"{len(set(got))} of {N} links arrived")
            check(len(got) == N, f"{len(got) - N} duplicates")
            check(relay.refused > 0, "the relay refused no session: the test tests nothing")
            check(worst <= SLACK,
                  f"the queue depth said up to {worst} links more than were still to arrive "
                  f"({samples} samples)")
            end = time.time() + 10
            while depth(srv) != 0 and time.time() < end:
                time.sleep(0.1)
            check(depth(srv) == 0, f"queue depth {depth(srv)} with every link delivered")
            print(f"ok: {N} links through {SESSIONS} sessions of 4 mailers, the depth at most "
                  f"{worst} above what was left, 0 at the end")
    finally:
        relay.stop()
    print("ok")


if __name__ == "__main__":
    main()
