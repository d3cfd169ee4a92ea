#!/usr/bin/env python3
"""bench_table - the FIGURE lines of one `make bench` run as a markdown table.

    tools/bench_table.py FIGURES               print the table
    tools/bench_table.py --write FILE FIGURES  replace the table in FILE

FIGURES holds lines `FIGURE|key|what|magicd|reference|ratio` (tools/bench.sh
collects them). In FILE the table lives between the lines
`<!-- bench-table:begin -->` and `<!-- bench-table:end -->`; everything
else in the file is left as it is. Figures appear in the order of issue
10's table (spool, box, idle memory, reloads), then any others.
"""
import os
import sys
import time

ORDER = ["spool", "spool-relay", "spool-mem", "mailer", "box-gin", "box-nginx", "idle", "reload"]
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def table(lines):
    figs = {}
    for line in lines:
        parts = line.rstrip("\n").split("|")
        if len(parts) == 6 and parts[0] == "FIGURE":
            figs[parts[1]] = parts[2:]
    keys = [k for k in ORDER if k in figs] + sorted(k for k in figs if k not in ORDER)
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    out = ["| figure | magicd | reference, same run | ratio |", "|---|---|---|---|"]
    for k in keys:
        what, m, ref, ratio = figs[k]
        out.append(f"| {what} | {m} | {ref} | **{ratio}** |")
    if not keys:
        out.append("| (no figures in this run) | | | |")
    out.append("")
    out.append(f"`make bench-docs`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"load average {' '.join(load)} at the end of the run.")
    return "\n".join(out) + "\n"


def main(argv):
    write = None
    if len(argv) >= 2 and argv[0] == "--write":
        write, argv = argv[1], argv[2:]
    if len(argv) != 1:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    t = table(open(argv[0]).readlines())
    if not write:
        sys.stdout.write(t)
        return 0
    text = open(write).read()
    if BEGIN not in text or END not in text:
        print(f"bench_table: {write} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 1
    a = text.index(BEGIN) + len(BEGIN)
    b = text.index(END)
    with open(write, "w") as f:
        f.write(text[:a] + "\n" + t + text[b:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
