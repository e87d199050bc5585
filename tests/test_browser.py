"""The headless-Chromium driver of the page tests (tests/browser.py), on small pages written here: each fault a
page test should catch is caught, and a clean page reports nothing. Fast tier: one Chromium for the module,
about a second. Chromium is required (scripts/run_tests.sh installs it): without it these tests fail."""
import struct
import zlib

import pytest

from browser import BrowserError, HeadlessChromium, JavaScriptError, ProtocolError

WIDTH, HEIGHT = 1280, 900


def png(width: int, height: int, rgb=(200, 30, 30)) -> bytes:
    """A valid PNG of one colour, made here (no image files)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def page(tmp_path, body: str, name: str = "page.html"):
    path = tmp_path / name
    path.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>t</title></head>"
                    f"<body>{body}</body></html>\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def chromium():
    try:
        browser = HeadlessChromium(width=WIDTH, height=HEIGHT, timeout_s=30)
    except BrowserError as error:
        pytest.fail(f"the page tests need Chromium: {error}")
    with browser:
        yield browser


def test_a_clean_page_reports_nothing_and_is_screenshot_whole(chromium, tmp_path):
    import base64
    image = "data:image/png;base64," + base64.b64encode(png(1, 1)).decode()
    path = page(tmp_path, "<style>p.note { color: #225; font: 16px sans-serif }</style>"
                          "<p class='note'>Everything is in order</p>"
                          f"<img alt='dot' width='20' height='20' src='{image}'>"
                          "<div style='height: 3000px; background: #eef'>tall</div>")
    visit = chromium.open(path)
    assert visit.errors == [] and visit.dialogs == []
    assert [url for url in visit.requests if not url.startswith("data:")] == [path.resolve().as_uri()]
    assert "Everything is in order" in visit.text()
    assert visit.broken_images() == []
    assert visit.evaluate("document.images[0].naturalWidth") == 1
    shot = visit.screenshot(tmp_path / "page.png")
    width, height = png_size(shot.read_bytes())
    assert width == WIDTH and height >= 3000 > HEIGHT, (width, height)


def test_a_script_error_is_reported(chromium, tmp_path):
    visit = chromium.open(page(tmp_path, "<p>text</p><script>undefinedFunction()</script>"))
    assert len(visit.errors) == 1, visit.errors
    assert "ReferenceError: undefinedFunction is not defined" in visit.errors[0]
    assert "page.html" in visit.errors[0]


def test_console_errors_are_reported(chromium, tmp_path):
    visit = chromium.open(page(tmp_path, "<script>console.error('bad', 42); console.warn('odd');"
                                         "console.log('fine')</script>"))
    assert [e.split(" (")[0] for e in visit.errors] == ["console.error: bad 42", "console.warning: odd"]


def test_an_image_that_does_not_load_is_broken(chromium, tmp_path):
    (tmp_path / "present.png").write_bytes(png(2, 2))
    visit = chromium.open(page(tmp_path, "<img src='present.png'><img src='missing.png'>"))
    assert visit.broken_images() == ["missing.png"]
    assert any("ERR_FILE_NOT_FOUND" in e and "missing.png" in e for e in visit.errors), visit.errors


def test_an_alert_is_recorded_and_dismissed(chromium, tmp_path):
    visit = chromium.open(page(tmp_path, '<script>alert("x"); document.title = confirm("sure?")</script>'))
    assert visit.dialogs == ["x", "sure?"]
    assert visit.evaluate("document.title") == "false"  # dismissed
    assert visit.errors == []


def test_the_network_is_off(chromium, tmp_path):
    visit = chromium.open(page(tmp_path, "<img src='http://example.com/x.png'>"))
    assert "http://example.com/x.png" in visit.requests
    assert visit.broken_images() == ["http://example.com/x.png"]
    # Offline (emulated), not merely unreachable from this machine.
    assert any("ERR_INTERNET_DISCONNECTED" in e for e in visit.errors), visit.errors


def test_evaluate_raises_what_the_page_throws(chromium, tmp_path):
    visit = chromium.open(page(tmp_path, "<p>x</p>"))
    assert visit.evaluate("Promise.resolve([1, 'a', {b: null}])") == [1, "a", {"b": None}]
    with pytest.raises(JavaScriptError, match="TypeError: no"):
        visit.evaluate("(() => { throw new TypeError('no') })()")
    with pytest.raises(ProtocolError, match="Page.noSuchMethod"):
        visit._page.send("Page.noSuchMethod")


def test_a_stuck_page_times_out_instead_of_hanging(tmp_path):
    with HeadlessChromium(width=WIDTH, height=HEIGHT, timeout_s=60) as browser:
        visit = browser.open(page(tmp_path, "<p>x</p>"))
        browser.timeout_s = 1  # only the stuck step: starting and loading take longer on a busy machine
        with pytest.raises(BrowserError, match="no reply to Runtime.evaluate in 1 s"):
            visit.evaluate("new Promise(() => {})")


def test_a_missing_chromium_is_a_clear_error(tmp_path):
    with pytest.raises(BrowserError, match="is not an executable file.*scripts/run_tests.sh"):
        HeadlessChromium(executable=str(tmp_path / "chromium"))
