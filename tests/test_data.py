"""`pipeline.data`: fetching the real dataset from a loopback HTTP server or a mirror folder, and verifying it."""
import hashlib
import http.server
import json
import os
import socket
import threading

import pytest

from textrnn.pipeline import data

DATASET_FILE_SHA256 = "a0ef80faee87588f307aceb44eba562bc5c6b6f655c96c91677ae2fcc554ac51"


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    """The tests choose data dir and mirror themselves, whatever the calling environment sets."""
    for name in (data.DATA_DIR_ENV, data.MIRROR_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def jsonl_bytes(dataset_file) -> bytes:
    return dataset_file.read_bytes()


@pytest.fixture(scope="session")
def array_bytes(jsonl_bytes) -> bytes:
    """The real dataset converted to one JSON array, as the TensorFlow courses' sarcasm.json is laid out."""
    objects = [json.loads(line) for line in jsonl_bytes.decode("utf-8").splitlines() if line.strip()]
    return json.dumps(objects).encode("utf-8")


@pytest.fixture(scope="session")
def corrupted_bytes(jsonl_bytes) -> bytes:
    """The real dataset with one label flipped."""
    corrupted = jsonl_bytes.replace(b'"is_sarcastic": 0}', b'"is_sarcastic": 1}', 1)
    assert corrupted != jsonl_bytes
    return corrupted


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the server's `routes`: path -> (body, bytes actually sent); 404 for other paths."""

    def do_GET(self):
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body, sent = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:sent])

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """Starts a loopback HTTP server for {path: body} (a body may be a (body, bytes sent) pair); returns its base URL."""
    servers = []

    def start(routes):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.routes = {path: body if isinstance(body, tuple) else (body, len(body)) for path, body in routes.items()}
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def unreachable_url():
    """A loopback URL whose port is bound but not listening, so connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/sarcasm.json"


def installed(data_dir) -> bytes:
    return (data_dir / "sarcasm" / data.DATASET_FILE).read_bytes()


def test_expected_fingerprint_is_that_of_the_real_file(dataset_file, jsonl_bytes):
    assert hashlib.sha256(jsonl_bytes).hexdigest() == DATASET_FILE_SHA256
    assert data.fingerprint(str(dataset_file)) == data.EXPECTED
    assert (data.EXPECTED.records, data.EXPECTED.sarcastic) == (26709, 11724)


def test_json_array_layout_has_the_same_fingerprint(array_bytes, tmp_path):
    path = tmp_path / "sarcasm.json"
    path.write_bytes(array_bytes)
    assert array_bytes.startswith(b"[")
    assert data.fingerprint(str(path)) == data.EXPECTED


def test_a_flipped_label_changes_the_fingerprint(corrupted_bytes, tmp_path):
    path = tmp_path / "corrupted.json"
    path.write_bytes(corrupted_bytes)
    got = data.fingerprint(str(path))
    assert got.records == data.EXPECTED.records
    assert got.sarcastic == data.EXPECTED.sarcastic + 1
    assert got.sha256 != data.EXPECTED.sha256


@pytest.mark.parametrize("layout", ["jsonl", "array"])
def test_a_byte_order_mark_keeps_the_fingerprint_of_either_layout(layout, request, tmp_path):
    path = tmp_path / "sarcasm.json"
    path.write_bytes(b"\xef\xbb\xbf" + request.getfixturevalue(f"{layout}_bytes"))
    assert data.fingerprint(str(path)) == data.EXPECTED


def test_a_byte_that_is_not_utf8_fails_the_fingerprint_naming_line_and_column(jsonl_bytes, tmp_path):
    lines = jsonl_bytes.split(b"\n")
    lines[99] = lines[99].replace(b'"headline": "', b'"headline": "\xff', 1)
    path = tmp_path / "sarcasm.json"
    path.write_bytes(b"\n".join(lines))
    column = lines[99].index(b"\xff") + 1
    with pytest.raises(data.DataFetchError, match=rf"at line 100 \(not valid UTF-8 \(byte 0xff at column {column}\)\)"):
        data.fingerprint(str(path))


@pytest.mark.parametrize("layout", ["jsonl", "array"])
def test_download_verifies_and_installs_either_layout(layout, request, serve, tmp_path, capsys):
    body = request.getfixturevalue(f"{layout}_bytes")
    url = serve({"/sarcasm.json": body}) + "/sarcasm.json"
    folder = data.ensure_dataset(data_dir=str(tmp_path), urls=[url])
    assert folder == str(tmp_path / "sarcasm")
    assert installed(tmp_path) == body
    assert os.listdir(folder) == [data.DATASET_FILE]
    stderr = capsys.readouterr().err
    assert f"downloading {url}" in stderr
    assert f"{len(body) / 1e6:.1f} / {len(body) / 1e6:.1f} MB" in stderr


def test_a_corrupted_download_is_not_installed(serve, corrupted_bytes, tmp_path):
    url = serve({"/sarcasm.json": corrupted_bytes}) + "/sarcasm.json"
    with pytest.raises(data.DataFetchError) as error:
        data.ensure_dataset(data_dir=str(tmp_path), urls=[url])
    message = str(error.value)
    assert url in message
    assert f"expected {data.EXPECTED}" in message
    assert "got 26709 records (11725 sarcastic)" in message
    assert os.listdir(tmp_path / "sarcasm") == []


def test_a_page_that_is_not_the_dataset_is_not_installed(serve, tmp_path):
    url = serve({"/sarcasm.json": b"<html><body>Sign in to continue</body></html>\n"}) + "/sarcasm.json"
    with pytest.raises(data.DataFetchError, match="got an invalid record at line 1 \\(malformed JSON"):
        data.ensure_dataset(data_dir=str(tmp_path), urls=[url])
    assert os.listdir(tmp_path / "sarcasm") == []


def test_an_incomplete_download_is_not_installed(serve, jsonl_bytes, tmp_path):
    url = serve({"/sarcasm.json": (jsonl_bytes, len(jsonl_bytes) // 2)}) + "/sarcasm.json"
    with pytest.raises(data.DataFetchError, match="incomplete download"):
        data.ensure_dataset(data_dir=str(tmp_path), urls=[url])
    assert os.listdir(tmp_path / "sarcasm") == []


def test_a_404_falls_through_to_the_next_url(serve, jsonl_bytes, tmp_path):
    base = serve({"/good.json": jsonl_bytes})
    data.ensure_dataset(data_dir=str(tmp_path), urls=[base + "/missing.json", base + "/good.json"])
    assert installed(tmp_path) == jsonl_bytes


def test_offline_without_mirror_names_both_ways_out(serve, unreachable_url, tmp_path):
    missing = serve({}) + "/missing.json"
    with pytest.raises(data.DataFetchError) as error:
        data.ensure_dataset(data_dir=str(tmp_path), urls=[unreachable_url, missing])
    message = str(error.value)
    assert "--mirror DIR" in message
    assert data.MIRROR_ENV in message
    assert f"{unreachable_url}: " in message and "Connection refused" in message
    assert f"{missing}: HTTP 404" in message
    assert not (tmp_path / "sarcasm" / data.DATASET_FILE).exists()


@pytest.mark.parametrize("name, layout", [(data.DATASET_FILE, "jsonl"), ("sarcasm.json", "array")])
def test_mirror_of_either_layout_is_verified_and_installed(name, layout, request, tmp_path):
    body = request.getfixturevalue(f"{layout}_bytes")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(body)
    folder = data.ensure_dataset(data_dir=str(tmp_path / "data"), mirror=str(mirror), urls=[])
    assert folder == str(tmp_path / "data" / "sarcasm")
    assert installed(tmp_path / "data") == body


def test_mirror_from_the_environment(monkeypatch, dataset_file, jsonl_bytes, tmp_path):
    monkeypatch.setenv(data.MIRROR_ENV, str(dataset_file.parent))
    data.ensure_dataset(data_dir=str(tmp_path), urls=[])
    assert installed(tmp_path) == jsonl_bytes


def test_a_corrupted_mirror_is_not_installed(corrupted_bytes, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / data.DATASET_FILE).write_bytes(corrupted_bytes)
    with pytest.raises(data.DataFetchError, match="expected .*; got 26709 records"):
        data.ensure_dataset(data_dir=str(tmp_path / "data"), mirror=str(mirror), urls=[])
    assert os.listdir(tmp_path / "data" / "sarcasm") == []


def test_a_mirror_without_the_dataset_says_what_it_looked_for(tmp_path):
    with pytest.raises(data.DataFetchError, match="neither Sarcasm_Headlines_Dataset.json nor sarcasm.json"):
        data.ensure_dataset(data_dir=str(tmp_path / "data"), mirror=str(tmp_path), urls=[])


def test_a_verified_dataset_is_kept(dataset_file, tmp_path, capsys):
    data.ensure_dataset(data_dir=str(tmp_path), mirror=str(dataset_file.parent))
    before = os.stat(tmp_path / "sarcasm" / data.DATASET_FILE)
    capsys.readouterr()
    # No mirror and no URLs: only the installed file can satisfy this call.
    folder = data.ensure_dataset(data_dir=str(tmp_path), urls=[])
    after = os.stat(os.path.join(folder, data.DATASET_FILE))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "already present" in capsys.readouterr().err


def test_an_installed_file_failing_verification_is_replaced(dataset_file, corrupted_bytes, jsonl_bytes, tmp_path):
    (tmp_path / "sarcasm").mkdir()
    (tmp_path / "sarcasm" / data.DATASET_FILE).write_bytes(corrupted_bytes)
    data.ensure_dataset(data_dir=str(tmp_path), mirror=str(dataset_file.parent))
    assert installed(tmp_path) == jsonl_bytes


def test_data_dir_comes_from_argument_environment_or_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.dataset_dir() == str(tmp_path / "cache" / "textrnn" / "data" / "sarcasm")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    assert data.dataset_dir() == str(tmp_path / "env" / "sarcasm")
    assert data.dataset_dir(str(tmp_path / "arg")) == str(tmp_path / "arg" / "sarcasm")


def test_fetch_command_prints_the_dataset_folder(serve, jsonl_bytes, tmp_path, capsys):
    url = serve({"/sarcasm.json": jsonl_bytes}) + "/sarcasm.json"
    from textrnn import cli

    assert cli.main(["data", "fetch", "--data-dir", str(tmp_path), "--url", url]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "sarcasm")
    assert installed(tmp_path) == jsonl_bytes
