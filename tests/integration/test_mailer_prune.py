"""test_mailer_prune: the mailer's weekly prune of sent/ keeps the journal
of a batch file that is still in new/, under whatever name the file has
there: a batch file the mailer has begun to send from is renamed with a
'j' (new/.jbs.*, so that an older mailer leaves it alone), and a journal
pruned from under it would have its recorded links sent a second time.

magicd (relay down) answers links for 6 accounts; they wait in batch
files. With magicd stopped, one batch file is made to look like one sent
from a week ago: renamed .jbs.*, and a journal in sent/ that records
every link in it, its mtime 8 days back (the prune's cutoff is 7). Then
magicd starts with the relay up (the prune runs first) and checked:
  1. every link not in that journal arrives, once;
  2. none of the journal's links arrives again;
  3. the journal is still in sent/.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, skip  # noqa: E402
from spool_util import Sink, ask_links, parse_records, smtp_magicd, whole_batches  # noqa: E402

USERS = [f"p{i}@example.com" for i in range(6)]


def main():
    if not os.path.exists(BIN):
        skip(f"{BIN} not built")
    rport = free_port()
    srv, spool = smtp_magicd(rport, USERS)
    with srv:
        ask_links(srv, USERS)
        time.sleep(0.3)  # the last batch file closed (a few ms idle)
    new = os.path.join(spool, "new")
    files = {}
    for n in os.listdir(new):
        if n.startswith(".bs."):
            recs = [r for r in parse_records(
                whole_batches(open(os.path.join(new, n), "rb").read()).decode()) if "to" in r]
            if recs:
                files[n] = recs
    check(files, f"no written batch files in new/: {os.listdir(new)}")
    name, recs = max(files.items(), key=lambda kv: len(kv[1]))
    base = name[1:]  # bs.TAG.SEQ
    os.rename(os.path.join(new, name), os.path.join(new, ".j" + base))
    journal = os.path.join(spool, "sent", base + ".sent")
    with open(journal, "wb") as f:
        f.write(b"".join(b"sent %s\n" % r["id"].encode() for r in recs) + b"\0" * 4096)
    week = time.time() - 8 * 86400
    os.utime(journal, (week, week))
    done = {r["to"] for r in recs}

    sink = Sink(rport).start()
    try:
        with srv:
            want = set(USERS) - done
            end = time.time() + 30
            while time.time() < end:
                with sink.lock:
                    if want <= set(sink.rcpts):
                        break
                time.sleep(0.05)
            time.sleep(1.0)  # a link sent again would arrive now
            with sink.lock:
                got = list(sink.rcpts)
    finally:
        sink.stop()
    check(want <= set(got), f"never mailed: {sorted(want - set(got))}")
    again = sorted(u for u in got if u in done)
    check(not again, f"sent again although its journal records it: {again}")
    dups = len(got) - len(set(got))
    check(dups == 0, f"{dups} duplicates: {got}")
    check(os.path.exists(journal), "the journal of a batch file still in new/ was pruned")
    print(f"ok: a week-old journal of new/.j{base} kept by the prune; its {len(recs)} link(s) "
          f"not sent again, the other {len(want)} sent once")


if __name__ == "__main__":
    main()
