"""A small W3C WebDriver client for chromedriver, standard library only.

The browser test drives a real headless Chromium through chromedriver's HTTP
API (https://www.w3.org/TR/webdriver2/): a session is a JSON POST to
/session, and every command after that is a JSON request under
/session/{id}/... whose answer is {"value": ...}. Errors come back as a non-2xx
status with {"value": {"error": ..., "message": ...}}; they are raised as
WebDriverError so a test failure says what the browser said.

Driver starts chromedriver on a free loopback port and stops it again;
Session wraps one browser session. Only what the tests need is here: navigate,
find by CSS selector, type, click, read text and attributes, run a script,
read the browser console log, and wait for a condition with a time limit.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import free_port

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
HEADLESS_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class WebDriverError(Exception):
    pass


class TimeoutError_(AssertionError):
    pass


def available():
    """Why the browser cannot run here, or None when it can."""
    for path in (CHROMEDRIVER, CHROMIUM):
        if not os.access(path, os.X_OK):
            return path + " is not installed (Debian packages chromium, chromium-driver)"
    return None


class Driver:
    """A chromedriver process listening on a free loopback port."""

    def __init__(self, path=CHROMEDRIVER, timeout=20):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="chromedriver-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([path, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise WebDriverError("chromedriver exited: %s\n%s" % (self.proc.returncode,
                                                                      self.log_text()))
            try:
                st = request(self.url, "GET", "/status", timeout=2)
                if st.get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        self.stop()
        raise WebDriverError("chromedriver did not become ready\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log.name, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def request(base, method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = r.read()
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            v = json.loads(payload).get("value", {})
            first = (v.get("message") or "").splitlines()[:1]
            msg = f"{v.get('error')}: {first[0] if first else ''}"
        except (ValueError, AttributeError):
            msg = payload[:300].decode(errors="replace")
        raise WebDriverError(f"{method} {path}: HTTP {e.code} {msg}") from None
    return json.loads(payload).get("value") if payload else None


class Element:
    def __init__(self, session, eid):
        self.s = session
        self.id = eid

    def _cmd(self, method, what, body=None):
        return self.s.cmd(method, f"/element/{self.id}/{what}", body)

    def send_keys(self, text):
        self._cmd("POST", "value", {"text": text})

    def click(self):
        self._cmd("POST", "click", {})

    def clear(self):
        self._cmd("POST", "clear", {})

    @property
    def text(self):
        return self._cmd("GET", "text")

    def attribute(self, name):
        return self._cmd("GET", f"attribute/{name}")

    def displayed(self):
        return self._cmd("GET", "displayed")


class Session:
    """One browser session. Use as a context manager so the browser exits."""

    def __init__(self, driver, binary=CHROMIUM, args=(), console_log=True):
        self.driver = driver
        self.profile = tempfile.mkdtemp(prefix="magicd-chromium-")
        opts = {"binary": binary, "args": HEADLESS_ARGS + [f"--user-data-dir={self.profile}"]
                + list(args)}
        caps = {"browserName": "chrome", "goog:chromeOptions": opts,
                "pageLoadStrategy": "normal", "timeouts": {"pageLoad": 30000, "script": 30000}}
        if console_log:
            caps["goog:loggingPrefs"] = {"browser": "ALL"}
        v = request(driver.url, "POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.id = v["sessionId"]
        self.base = f"{driver.url}/session/{self.id}"

    def cmd(self, method, path, body=None):
        return request(self.base, method, path, body)

    def quit(self):
        if self.id:
            try:
                request(self.driver.url, "DELETE", f"/session/{self.id}", timeout=20)
            except (OSError, WebDriverError):
                pass
            self.id = None
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.quit()

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    @property
    def current_url(self):
        return self.cmd("GET", "/url")

    @property
    def title(self):
        return self.cmd("GET", "/title")

    def find(self, css):
        v = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, v[ELEMENT_KEY])

    def find_all(self, css):
        vs = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, v[ELEMENT_KEY]) for v in vs]

    def text_of(self, css):
        """Text of the first element matching css, or None when there is none."""
        els = self.find_all(css)
        return els[0].text if els else None

    def execute(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        """Save a PNG of the viewport (for looking at a failure)."""
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def set_window_size(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def console_log(self):
        """Browser console entries since the last call (chromedriver extension)."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return None

    def wait_until(self, cond, timeout=15, interval=0.1, what="condition"):
        """Poll cond() until it returns a truthy value; return that value.
        WebDriver errors while polling (page still loading) count as not yet."""
        end = time.time() + timeout
        last = None
        while True:
            try:
                v = cond()
                if v:
                    return v
            except WebDriverError as e:
                last = e
            if time.time() >= end:
                msg = f"timed out after {timeout}s waiting for {what}"
                if last:
                    msg += f" (last error: {last})"
                raise TimeoutError_(msg)
            time.sleep(interval)
