"""The sign-in code as a test client uses it: ask for a link (and its code)
through a Browser, read the code form from the "link sent" page, send a
code."""
import html
import re
import urllib.parse

from harness import DEMO, check


def code_form(body):
    """The hidden ticket and the form's action from a "link sent" page."""
    text = body.decode()
    check('id="code-form"' in text, f"no code form in the sent page: {text[:600]}")
    m = re.search(r'<form id="code-form"[^>]*action="([^"]+)"', text)
    check(m and m.group(1) == "/magic/code", f"code form action: {m and m.group(1)}")
    t = re.search(r'name="ticket"[^>]*value="([^"]+)"', text) or \
        re.search(r'value="([^"]+)"[^>]*name="ticket"', text)
    check(t, "no ticket field in the code form")
    check(re.search(r'name="code"', text), "no code input in the code form")
    return html.unescape(t.group(1))


def send_code(b, ticket, code, csrf=True):
    body = urllib.parse.urlencode({"ticket": ticket, "code": code})
    return b.req("POST", "/magic/code", body,
                 {"Content-Type": "application/x-www-form-urlencoded"}, csrf=csrf)


def ask(srv, b, email=DEMO):
    n = len(srv.outbox_links())
    st, _, body = b.generate(email)
    check(st == 200, f"generate answered {st}: {body[:300]}")
    ticket = code_form(body)
    links = srv.outbox_links()
    if email != DEMO:
        return ticket, None
    check(len(links) == n + 1, f"{len(links) - n} deliveries for one request")
    d = links[-1]
    check(re.fullmatch(r"[0-9]{6}", d.get("code", "")), f"outbox line has no 6-digit code: {d}")
    return ticket, d
