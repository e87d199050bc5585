"""A small headless-Chromium driver for the page tests, over the DevTools protocol pipe (standard library only).

Chromium (Debian's, as $TEXTRNN_CHROMIUM; scripts/env.sh installs it) reads protocol commands on its fd 3 and
writes replies and events on its fd 4, each a JSON message ended by a NUL byte. Each page opens in a new tab with
the network off, and its visit records what a reader would notice: script errors, console and log errors (CSP
violations, failed loads), the URLs it requested and its dialogs. Every read is bounded by the timeout, so a
stuck browser fails a test instead of hanging it.

    with HeadlessChromium() as chromium:
        visit = chromium.open("report.html")
        assert not visit.errors and not visit.broken_images()
"""
import base64
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


class BrowserError(RuntimeError):
    """Chromium could not be found or started, died, broke the protocol or did not answer in time."""


class ProtocolError(BrowserError):
    """A protocol command answered with an error."""


class JavaScriptError(BrowserError):
    """An expression given to `PageVisit.evaluate` threw."""


def _stderr_tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _location(url: str, line=None, column=None) -> str:
    """`url:line:column` of a protocol location (lines and columns there count from 0)."""
    if not url:
        return ""
    if line is None:
        return f" ({url})"
    return f" ({url}:{line + 1}" + (f":{column + 1})" if column is not None else ")")


def _remote_text(obj: dict) -> str:
    """A console argument (a Runtime.RemoteObject) as console.log would show it."""
    if "value" in obj:
        return obj["value"] if isinstance(obj["value"], str) else json.dumps(obj["value"])
    return obj.get("description") or obj.get("unserializableValue") or obj.get("type", "")


class _Page:
    """One tab: its protocol session and what its events recorded."""

    def __init__(self, browser: "HeadlessChromium", session_id: str):
        self.browser = browser
        self.session_id = session_id
        self.errors: list = []
        self.requests: list = []
        self.dialogs: list = []
        self.load_fired = False

    def send(self, method: str, params: dict | None = None):
        return self.browser._send(method, params, self.session_id)

    def on_event(self, method: str, params: dict):
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self.load_fired = True
        elif method == "Page.javascriptDialogOpening":
            # A dialog blocks the page's script until it is answered: record it and dismiss it at once.
            self.dialogs.append(params.get("message", ""))
            self.browser._post("Page.handleJavaScriptDialog", {"accept": False}, self.session_id)
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            where = _location(details.get("url", ""), details.get("lineNumber"), details.get("columnNumber"))
            self.errors.append(f"uncaught exception: {text}" + ("" if where[2:-1] in text else where))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            frames = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            text = " ".join(_remote_text(arg) for arg in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {text}"
                               + _location(frames[0].get("url", ""), frames[0].get("lineNumber"),
                                           frames[0].get("columnNumber")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('source', 'log')} error: {entry.get('text', '')}"
                               + _location(entry.get("url", ""), entry.get("lineNumber")))


@dataclass
class PageVisit:
    """A page loaded in its own tab with the network off. `errors`, `requests` and `dialogs` keep growing while
    the tab lives (until the browser closes), e.g. with what `evaluate` makes the page do."""

    url: str
    errors: list  # uncaught exceptions, console errors and warnings, log errors, each with its source
    requests: list  # every URL the page requested, its own first
    dialogs: list  # the messages of its alert, confirm and prompt dialogs (all dismissed)
    _page: _Page = field(repr=False, compare=False)

    def evaluate(self, expression: str):
        """The expression's value (JSON-like; promises awaited); JavaScriptError with its text if it throws."""
        reply = self._page.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                     "awaitPromise": True})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            raise JavaScriptError(f"{expression!r} threw: {text}")
        return reply["result"].get("value")

    def broken_images(self) -> list:
        """The src (as written) of every <img> that did not load: not complete, or no pixels."""
        return self.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                             ".map(i => i.getAttribute('src') ?? i.currentSrc)")

    def text(self) -> str:
        """The page's text as a reader sees it (document.body.innerText)."""
        return self.evaluate("document.body ? document.body.innerText : ''")

    def screenshot(self, path) -> pathlib.Path:
        """Writes a PNG of the whole page (beyond the window), at one pixel per CSS pixel."""
        size = self._page.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        reply = self._page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                           "clip": clip})
        path = pathlib.Path(path)
        path.write_bytes(base64.b64decode(reply["data"]))
        return path


class HeadlessChromium:
    """Headless Chromium driven over its DevTools pipe; a context manager (`with HeadlessChromium() as c:`).

    executable defaults to $TEXTRNN_CHROMIUM, else `chromium` on PATH. width and height are the window's (and so
    the screenshots' width). timeout_s bounds each step: a command's reply, a page's load."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900,
                 timeout_s: float = 60):
        self.executable = executable or os.environ.get("TEXTRNN_CHROMIUM") or shutil.which("chromium")
        if not self.executable or not (os.path.isfile(self.executable) and os.access(self.executable, os.X_OK)):
            raise BrowserError(
                f"no Chromium to run: {self.executable or 'TEXTRNN_CHROMIUM is unset and no chromium is on PATH'}"
                + (" is not an executable file" if self.executable else "")
                + " (scripts/run_tests.sh installs Debian's chromium and sets TEXTRNN_CHROMIUM)")
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._process = None
        self._pages: dict = {}
        self._next_id = 0
        self._posted: dict = {}  # ids of commands whose replies nobody waits for -> their method
        self._buffer = b""

    # -- lifecycle

    def __enter__(self) -> "HeadlessChromium":
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def start(self):
        """Launches Chromium with its protocol pipe on fds 3 (commands) and 4 (replies and events)."""
        self._profile = tempfile.mkdtemp(prefix="textrnn-chromium-")
        self._stderr = tempfile.NamedTemporaryFile(prefix="textrnn-chromium-", suffix=".log", delete=False)
        command_read, self._command_write = os.pipe()
        self._reply_read, reply_write = os.pipe()
        args = [self.executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-dev-shm-usage", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # One pixel per CSS pixel and no scrollbar: a screenshot is as wide as the window.
                "--force-device-scale-factor=1", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={self._profile}", f"--window-size={self.width},{self.height}",
                "--remote-debugging-pipe", "about:blank"]
        # The shell puts the pipe ends (given as stdin and stdout) on fds 3 and 4, whatever numbers they have
        # here, and then becomes Chromium (exec), its stdin /dev/null and its stdout the stderr log.
        try:
            self._process = subprocess.Popen(
                ["/bin/sh", "-c", 'exec 3<&0 4>&1 0</dev/null 1>&2 "$@"', "sh", *args],
                stdin=command_read, stdout=reply_write, stderr=self._stderr, start_new_session=True)
        except BaseException:
            self._cleanup()
            raise
        finally:
            os.close(command_read)
            os.close(reply_write)
        try:
            self._send("Target.getTargets")  # the first reply: Chromium is up and speaking the protocol
        except BaseException:
            self.close()
            raise

    def close(self):
        """Closes the browser (Browser.close; killed if it does not exit) and removes its profile."""
        if self._process is None:
            return
        try:
            if self._process.poll() is None:
                try:
                    self._post("Browser.close")
                except BrowserError:
                    pass
                try:
                    self._process.wait(timeout=min(10, self.timeout_s))
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
        finally:
            self._cleanup()

    def _cleanup(self):
        for fd in (self._command_write, self._reply_read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        os.unlink(self._stderr.name)
        shutil.rmtree(self._profile, ignore_errors=True)
        self._process = None

    # -- pages

    def open(self, path) -> PageVisit:
        """Loads the file at path in a new tab, network off; returns once it has loaded (its load event) and
        settled (document.readyState complete)."""
        if self._process is None:
            raise BrowserError("the browser is not started: use `with HeadlessChromium() as chromium:`")
        url = pathlib.Path(path).resolve().as_uri()
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session_id = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = self._pages[session_id] = _Page(self, session_id)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                       "uploadThroughput": -1})
        page.load_fired = False
        navigation = page.send("Page.navigate", {"url": url})
        if navigation.get("errorText"):
            raise BrowserError(f"could not open {url}: {navigation['errorText']}")
        self._wait(lambda: page.load_fired, f"load event of {url}")
        visit = PageVisit(url=url, errors=page.errors, requests=page.requests, dialogs=page.dialogs, _page=page)
        # The load event seen may be the blank tab's: wait until the document is this one, complete.
        deadline = time.monotonic() + self.timeout_s
        while not visit.evaluate(f"document.readyState === 'complete' && location.href === {json.dumps(url)}"):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading in {self.timeout_s:g} s")
            time.sleep(0.05)
        return visit

    # -- the protocol

    def _post(self, method: str, params: dict | None = None, session_id: str | None = None) -> int:
        """Sends a command without waiting for its reply (an error reply still raises, when it is read)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self._posted[self._next_id] = method
        self._write(json.dumps(message).encode() + b"\0")
        return self._next_id

    def _send(self, method: str, params: dict | None = None, session_id: str | None = None) -> dict:
        """Sends a command and returns its result; ProtocolError naming the method if it answers an error."""
        command_id = self._post(method, params, session_id)
        del self._posted[command_id]
        replies = {}
        self._wait(lambda: command_id in replies, f"reply to {method}", replies)
        reply = replies[command_id]
        if "error" in reply:
            raise ProtocolError(f"{method} failed: {reply['error'].get('message')}"
                                + (f" ({reply['error']['data']})" if reply["error"].get("data") else ""))
        return reply.get("result", {})

    def _write(self, data: bytes):
        deadline = time.monotonic() + self.timeout_s
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self._command_write], [], remaining)[1]:
                raise self._failure(f"Chromium did not read its commands in {self.timeout_s:g} s")
            try:
                data = data[os.write(self._command_write, data):]
            except BrokenPipeError:
                raise self._failure("Chromium closed its command pipe") from None

    def _wait(self, done, what: str, replies: dict | None = None):
        """Reads messages (dispatching events to their tabs) until done(), for at most timeout_s."""
        deadline = time.monotonic() + self.timeout_s
        while not done():
            if b"\0" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self._reply_read], [], [], remaining)[0]:
                    raise self._failure(f"no {what} in {self.timeout_s:g} s")
                chunk = os.read(self._reply_read, 1 << 20)
                if not chunk:
                    raise self._failure(f"Chromium closed its pipe (waiting for {what})")
                self._buffer += chunk
                continue
            raw, self._buffer = self._buffer.split(b"\0", 1)
            message = json.loads(raw)
            if "id" in message:
                method = self._posted.pop(message["id"], None)
                if method is not None:
                    if "error" in message:
                        raise ProtocolError(f"{method} failed: {message['error'].get('message')}")
                elif replies is not None:
                    replies[message["id"]] = message
            elif message.get("sessionId") in self._pages:
                self._pages[message["sessionId"]].on_event(message["method"], message.get("params", {}))

    def _failure(self, what: str) -> BrowserError:
        code = self._process.poll() if self._process else None
        status = "" if code is None else f" (Chromium exited with {code})"
        return BrowserError(f"{what}{status}; the end of Chromium's stderr:\n{_stderr_tail(self._stderr.name)}")
