"""Downloads, against an HTTP server the test starts on 127.0.0.1 (never the network)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from sigreport.config import DataConfig
from sigreport.data import sources
from sigreport.data.download import fetch
from sigreport.data.sources import FILES, SOURCES, load_raw
from sigreport.errors import DataError


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Any attempt to reach a host other than 127.0.0.1 fails the test."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] in ("127.0.0.1", "localhost"), f"network access to {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


class _Server:
    """A static file server on 127.0.0.1 that records each request path."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/short/"):
                    # Announces more bytes than it sends, then hangs up.
                    body = (root / "files" / self.path.split("/")[-1]).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body) + 1000))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if self.path.startswith("/garbled/"):
                    self.wfile.write(b"this is not HTTP\r\n\r\n")
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    (root / "other").mkdir()
    srv = _Server(root)
    yield srv
    srv.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _publish(server: _Server, name: str, data: bytes, folder: str = "files") -> str:
    (server.root / folder / name).write_bytes(data)
    return _md5(data)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_and_verifies(server, tmp_path):
    payload = bytes(range(256)) * 1000  # several read chunks
    md5 = _publish(server, "a.gz", payload)
    dest_dir = tmp_path / "cache" / "deep"

    path = fetch([server.url + "files/"], "a.gz", md5, dest_dir)

    assert path == dest_dir / "a.gz"
    assert path.read_bytes() == payload
    assert server.requests == ["/files/a.gz"]
    assert _leftovers(dest_dir) == ["a.gz"]


def test_fetch_second_call_makes_no_request(server, tmp_path):
    md5 = _publish(server, "a.gz", b"payload")
    fetch([server.url + "files/"], "a.gz", md5, tmp_path / "c")
    fetch([server.url + "files/"], "a.gz", md5, tmp_path / "c")
    assert server.requests == ["/files/a.gz"]


def test_fetch_replaces_a_damaged_cached_file(server, tmp_path):
    md5 = _publish(server, "a.gz", b"the right bytes")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.gz").write_bytes(b"the wrong bytes")
    path = fetch([server.url + "files/"], "a.gz", md5, tmp_path / "c")
    assert path.read_bytes() == b"the right bytes"
    assert server.requests == ["/files/a.gz"]


def test_fetch_checksum_mismatch_leaves_nothing(server, tmp_path):
    _publish(server, "a.gz", b"tampered")
    dest_dir = tmp_path / "c"
    expected = _md5(b"original")
    with pytest.raises(DataError) as info:
        fetch([server.url + "files/"], "a.gz", expected, dest_dir)
    message = str(info.value)
    assert "a.gz" in message and "checksum mismatch" in message
    assert expected in message and _md5(b"tampered") in message
    assert server.url + "files/a.gz" in message
    assert _leftovers(dest_dir) == []  # neither a.gz nor a .part file


def test_fetch_first_mirror_404_then_second(server, tmp_path):
    md5 = _publish(server, "a.gz", b"payload")
    mirrors = [server.url + "other/", server.url + "files/"]
    path = fetch(mirrors, "a.gz", md5, tmp_path / "c")
    assert path.read_bytes() == b"payload"
    assert server.requests == ["/other/a.gz", "/files/a.gz"]
    assert _leftovers(tmp_path / "c") == ["a.gz"]


def test_fetch_first_mirror_wrong_bytes_then_second(server, tmp_path):
    md5 = _publish(server, "a.gz", b"payload")
    _publish(server, "a.gz", b"stale copy", folder="other")
    path = fetch([server.url + "other/", server.url + "files/"], "a.gz", md5, tmp_path / "c")
    assert path.read_bytes() == b"payload"
    assert _leftovers(tmp_path / "c") == ["a.gz"]


def test_fetch_every_mirror_fails_names_each(server, tmp_path):
    mirrors = [server.url + "other/", server.url + "files/"]
    with pytest.raises(DataError) as info:
        fetch(mirrors, "missing.gz", "0" * 32, tmp_path / "c")
    message = str(info.value)
    assert message.startswith("could not download missing.gz")
    assert message.count("404") == 2
    for mirror in mirrors:
        assert mirror + "missing.gz" in message
    assert _leftovers(tmp_path / "c") == []


def test_fetch_unreachable_server(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(DataError) as info:
        fetch([url], "a.gz", "0" * 32, tmp_path / "c", timeout=5)
    message = str(info.value)
    assert url + "a.gz" in message and "refused" in message.lower()
    assert _leftovers(tmp_path / "c") == []


def test_fetch_connection_closed_mid_file(server, tmp_path):
    # A server that hangs up before sending the announced Content-Length: a short
    # file (checksum mismatch) or IncompleteRead, depending on the Python version.
    md5 = _publish(server, "a.gz", bytes(200_000))
    with pytest.raises(DataError, match="could not download a.gz"):
        fetch([server.url + "short/"], "a.gz", md5, tmp_path / "c")
    assert _leftovers(tmp_path / "c") == []
    # The next mirror is still tried.
    path = fetch([server.url + "short/", server.url + "files/"], "a.gz", md5, tmp_path / "c")
    assert path.read_bytes() == bytes(200_000)


def test_regression_fetch_garbled_http_response(server, tmp_path):
    # http.client's BadStatusLine is not an OSError: it escaped fetch.
    md5 = _publish(server, "a.gz", b"payload")
    with pytest.raises(DataError, match="could not download a.gz"):
        fetch([server.url + "garbled/"], "a.gz", md5, tmp_path / "c")
    assert _leftovers(tmp_path / "c") == []


# --- end to end: Fashion-MNIST downloaded from the local server ----------------------


def _idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def test_load_raw_downloads_fashion_mnist(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    arrays = {
        FILES[0]: rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        FILES[1]: (np.arange(20) % 10).astype(np.uint8),
        FILES[2]: rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        FILES[3]: (np.arange(10) % 10).astype(np.uint8),
    }
    md5 = {stem: _publish(server, f"{stem}.gz", _idx_gz(a)) for stem, a in arrays.items()}
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(
        SOURCES["fashion-mnist"], mirrors=(server.url + "files/",), md5=md5, system_dir=None))
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    sources._read_folder.cache_clear()
    try:
        raw = load_raw(DataConfig(dataset="fashion-mnist", download=True))
        assert sorted(server.requests) == sorted(f"/files/{s}.gz" for s in FILES)
        folder = tmp_path / "cache" / "datasets" / "fashion-mnist"
        assert raw.location == str(folder.resolve())
        assert _leftovers(folder) == sorted(f"{s}.gz" for s in FILES)
        assert raw.name == "fashion-mnist" and raw.class_names[0] == "T-shirt/top"
        np.testing.assert_array_equal(raw.train_images, arrays[FILES[0]])
        np.testing.assert_array_equal(raw.train_labels, arrays[FILES[1]])
        np.testing.assert_array_equal(raw.test_images, arrays[FILES[2]])
        np.testing.assert_array_equal(raw.test_labels, arrays[FILES[3]])

        # A new process (no in-memory cache) finds the files without asking again,
        # with or without download.
        sources._read_folder.cache_clear()
        again = load_raw(DataConfig(dataset="fashion-mnist", download=False))
        assert len(server.requests) == 4
        assert again.sha256 == raw.sha256
    finally:
        sources._read_folder.cache_clear()


def test_load_raw_download_with_bad_checksum(server, tmp_path, monkeypatch):
    for stem in FILES:
        _publish(server, f"{stem}.gz", b"not what was published")
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(
        SOURCES["fashion-mnist"], mirrors=(server.url + "files/",),
        md5={s: "0" * 32 for s in FILES}, system_dir=None))
    monkeypatch.setenv("SIGREPORT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=f"could not download {FILES[0]}.gz.*checksum mismatch"):
        load_raw(DataConfig(dataset="fashion-mnist", download=True))
    assert _leftovers(tmp_path / "cache" / "datasets" / "fashion-mnist") == []


def test_fetch_server_that_never_answers(tmp_path):
    with socket.socket() as sock:  # accepts connections (backlog), never replies
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        with pytest.raises(DataError) as info:
            fetch([url], "a.gz", "0" * 32, tmp_path / "c", timeout=0.5)
    assert url + "a.gz" in str(info.value) and "timed out" in str(info.value)
    assert _leftovers(tmp_path / "c") == []


def test_regression_fetch_download_folder_cannot_be_created(tmp_path):
    # The OSError of mkdir escaped as a traceback instead of a one-line error.
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match="cannot create the download folder"):
        fetch(["http://127.0.0.1:9/"], "a.gz", "0" * 32, tmp_path / "a-file" / "sub")
