"""Deterministic content for bench/soak.py: any byte range of any artifact, recomputed
from a seed, and an HTTP origin serving such content for imports.

Content is the AES-CTR keystream of a key derived from the seed: random-looking (no
deduplication, no compression), generated at several GB/s off the GIL, and seekable,
since the counter at byte ``n`` is ``n // 16``. So nothing uploaded is kept in memory or
on disk by the client: a download is checked against bytes made again from the seed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CHUNK = 1024 * 1024
ZEROS = memoryview(bytes(CHUNK))
BLOCK = 16  # AES's block: the counter counts these
PATH = re.compile(r"^/content/([0-9a-f]+)/(\d+)$")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Content:
    """``size`` bytes made from ``seed``."""

    seed: int
    size: int

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; default: the end), in pieces of ~1 MiB."""
        end = self.size if end is None else end
        key = hashlib.sha256(self.seed.to_bytes(16, "big")).digest()
        position = start - start % BLOCK
        counter = (position // BLOCK).to_bytes(16, "big")
        keystream = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
        while position < end:
            length = min(CHUNK, end - position)
            piece = keystream.update(ZEROS[:length])
            yield piece[start - position :] if position < start else piece
            position += length

    def sha256(self, start: int = 0, end: int | None = None) -> str:
        digest = hashlib.sha256()
        for piece in self.chunks(start, end):
            digest.update(piece)
        return digest.hexdigest()

    @property
    def path(self) -> str:
        """Where ``running_origin`` serves it."""
        return f"/content/{self.seed:x}/{self.size}"


class _Origin(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer: nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        found = PATH.match(self.path)
        if found is None:
            self.send_error(404)
            return
        content = Content(int(found[1], 16), int(found[2]))
        start, end = 0, content.size
        wanted = RANGE.match(self.headers.get("range", ""))
        etag = f'"{found[1]}-{found[2]}"'
        # If-Range: a range only of these very bytes (they never change for one URL).
        if wanted and self.headers.get("if-range", etag) == etag:
            start = int(wanted[1])
            end = min(content.size, int(wanted[2]) + 1) if wanted[2] else content.size
        partial = (start, end) != (0, content.size)
        if partial and start >= end:
            self.send_response(416)
            self.send_header("content-range", f"bytes */{content.size}")
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(206 if partial else 200)
        self.send_header("etag", etag)
        self.send_header("accept-ranges", "bytes")
        self.send_header("content-length", str(end - start))
        if partial:
            self.send_header("content-range", f"bytes {start}-{end - 1}/{content.size}")
        self.end_headers()
        if body:
            for piece in content.chunks(start, end):
                self.wfile.write(piece)


@contextmanager
def running_origin() -> Iterator[str]:
    """Serve every ``Content`` at its ``path`` on a free loopback port; yield the base URL."""
    server = _Origin(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
