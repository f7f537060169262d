"""Test helpers: generated mini FF++ trees, on disk or served by a local HTTP server on 127.0.0.1.

The server speaks enough of HTTP/1.1 for the downloader: HEAD, GET, ``Range: bytes=N-`` (206 / 416), 404, and planted
faults: a connection closed halfway through a body, error statuses before success, Range ignored, HEAD refused.
Every request is logged as ``(method, path, range)`` so tests can count what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from add.data import ffpp

SPLIT_COUNTS = (3, 1, 1)  # pairs in train, val, test


def make_splits(counts: tuple[int, int, int] = SPLIT_COUNTS) -> dict[str, list[list[str]]]:
    """Pairs of consecutive ids "000", "001", ... in train, val, test."""
    splits, next_id = {}, 0
    for split, n in zip(ffpp.SPLITS, counts, strict=True):
        splits[split] = [[f"{next_id + 2 * i:03d}", f"{next_id + 2 * i + 1:03d}"] for i in range(n)]
        next_id += 2 * n
    return splits


def payload(relpath: str) -> bytes:
    """Deterministic bytes of 3-5 kB standing in for the video at ``relpath``."""
    seed = hashlib.sha256(relpath.encode()).digest()
    size = 3000 + int.from_bytes(seed[:2], "big") % 2000
    blocks = (hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def video_files(splits: dict[str, list[list[str]]], methods, qualities) -> dict[str, bytes]:
    """``{relpath: bytes}`` of every video the splits name for ORIGINAL + methods x qualities."""
    files = {}
    for pairs in splits.values():
        for a, b in pairs:
            originals, fakes = ffpp.pair_videos(a, b)
            for quality in qualities:
                for name in originals:
                    rel = ffpp.video_relpath(ffpp.ORIGINAL, quality, name)
                    files[rel] = payload(rel)
                for method in methods:
                    for name in fakes:
                        rel = ffpp.video_relpath(method, quality, name)
                        files[rel] = payload(rel)
    return files


def write_splits(splits_dir: Path, splits: dict[str, list]) -> None:
    splits_dir.mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        (splits_dir / f"{split}.json").write_text(json.dumps(pairs))


def write_tree(root: Path, splits: dict[str, list[list[str]]], methods, qualities) -> dict[str, bytes]:
    """An FF++ tree on disk (splits + payload videos); returns its ``{relpath: bytes}``."""
    write_splits(root / "splits", splits)
    files = video_files(splits, methods, qualities)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def server_tree(splits: dict[str, list[list[str]]], methods, qualities, filelist: list | None = None
                ) -> dict[str, bytes]:
    """URL paths of a mirror: ``splits/{split}.json``, ``v3/misc/filelist.json`` and ``v3/{relpath}`` videos."""
    files = {f"splits/{split}.json": json.dumps(pairs).encode() for split, pairs in splits.items()}
    all_pairs = [pair for pairs in splits.values() for pair in pairs]
    files["v3/misc/filelist.json"] = json.dumps(all_pairs if filelist is None else filelist).encode()
    files.update({f"v3/{rel}": data for rel, data in video_files(splits, methods, qualities).items()})
    return files


class FFPPServer:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port) serving ``files`` (URL path without leading '/')."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str, str | None]] = []
        self.drop_after: dict[str, int] = {}            # path -> bytes sent by the next GET before hanging up
        self.fail_with: dict[str, list[int]] = {}       # path -> statuses answered before serving it
        self.ignore_range = False
        self.refuse_head = False
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if (method is None or m == method) and p.startswith(path_prefix))

    def __enter__(self) -> FFPPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        state: FFPPServer = self.server.state
        path = unquote(urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        with state.lock:
            state.requests.append((self.command, path, range_header))
            statuses = state.fail_with.get(path)
            planted = statuses.pop(0) if statuses else None
            drop = None if head else state.drop_after.pop(path, None)
        if planted is not None:
            return self._reply(planted, body=b"planted failure")
        if head and state.refuse_head:
            return self._reply(405, body=b"no HEAD here")
        data = state.files.get(path)
        if data is None:
            return self._reply(404, body=b"not found")
        status, start, headers = 200, 0, {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        m = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if m and not state.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                return self._reply(416, {"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if drop is None:
            return self._reply(status, headers, body)
        # Announce the whole body, send part of it, hang up.
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body[:drop])
        self.wfile.flush()
        self.close_connection = True
