"""loadtest drives each of its scenarios against the real magicd for 2 s and
reports requests and zero errors: `generate` (login page, then POSTs with the
CSRF header, cookie and form email, all answered 200), `login` (the whole flow
through verify and the secure page: 200 and 303 only, every step counted),
`login --outbox` (the same flow with the link read from the outbox file
magicd writes), `original` (the article's tokenless POST: every answer a 403
status, which is not an error) and `get`."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import DEMO, LOADTEST, Magicd, check, skip  # noqa: E402

if not os.path.exists(LOADTEST):
    skip("loadtest not built")

LIMITS = "rate_limit_email 1000000000 1m;\nrate_limit_ip 1000000000 1m;\n"


def run(srv, scenario, path="/", extra=()):
    out = os.path.join(srv.tmp, f"lt-{scenario}.json")
    cmd = [LOADTEST, "-c", "8", "-t", "2", "-d", "2s", "-q", "--json", out] + list(extra) + [
        scenario, f"http://127.0.0.1:{srv.port}{path}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    print(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    check(r.returncode == 0, f"{scenario}: exit {r.returncode}: {r.stderr}")
    with open(out) as f:
        d = json.load(f)
    check(d["requests"] > 0, f"{scenario}: no requests")
    check(d["errors"]["total"] == 0, f"{scenario}: socket errors {d['errors']}")
    check(d["flow_errors"]["total"] == 0, f"{scenario}: flow errors {d['flow_errors']}")
    check(sum(d["status"].values()) == d["requests"], f"{scenario}: statuses do not add up")
    check(d["scenario"] == scenario, "scenario name in the report")
    check(str(d["requests"]) in r.stdout, f"{scenario}: the report does not show the request count")
    return d


def main():
    with Magicd(workers=1, delivery="response", extra=LIMITS) as srv:
        emails = os.path.join(srv.tmp, "emails.txt")
        with open(emails, "w") as f:
            f.write(DEMO + "\n")

        d = run(srv, "generate")
        kinds = d["requests_by_kind"]
        check(kinds.get("GET /login", 0) >= 8, f"generate: each connection fetches /login: {kinds}")
        check(kinds.get("POST /magic/generate", 0) > 0, f"generate: no POSTs: {kinds}")
        check(set(d["status"]) == {"200"}, f"generate: statuses {d['status']}")

        d = run(srv, "login", extra=["--emails", emails])
        kinds = d["requests_by_kind"]
        for k in ("GET /login", "POST /magic/generate", "POST /magic/verify", "POST /secure"):
            check(kinds.get(k, 0) > 0, f"login: step {k} never ran: {kinds}")
        check(set(d["status"]) <= {"200", "303"}, f"login: statuses {d['status']}")
        check(d["status"].get("303", 0) == kinds["POST /magic/verify"],
              f"login: every verify answered 303: {d['status']} {kinds}")

        d = run(srv, "original")
        check(set(d["status"]) == {"403"}, f"original: statuses {d['status']}")

        d = run(srv, "get", path="/healthz")
        check(set(d["status"]) == {"200"}, f"get: statuses {d['status']}")

    # Links delivered to the outbox instead of the page; generated addresses
    # get accounts on first use.
    with Magicd(workers=1, extra=LIMITS + "signup on;\n") as srv:
        d = run(srv, "login", extra=["--outbox", srv.outbox])
        kinds = d["requests_by_kind"]
        for k in ("POST /magic/generate", "POST /magic/verify", "POST /secure"):
            check(kinds.get(k, 0) > 0, f"login --outbox: step {k} never ran: {kinds}")
        check(set(d["status"]) <= {"200", "303"}, f"login --outbox: statuses {d['status']}")
        check(kinds["POST /magic/verify"] >= kinds["POST /magic/generate"] - 8,
              f"login --outbox: links not found for every generate: {kinds}")
    print("ok")


if __name__ == "__main__":
    main()
