"""An HTTP server on loopback that serves bytes the way the tests need: with or without
validators, cut short once, ranges, redirects, credentials."""

from __future__ import annotations

import contextlib
import hashlib
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHUTDOWN_POLL = 0.01  # seconds


class Origin(ThreadingHTTPServer):
    """Serves ``data`` at /data (with an ETag), /plain (without validators) and /slow (64 KiB
    every 50 ms), cutting the first whole answer halfway when ``cut`` is set;
    /redirect?to=URL redirects. With ``required`` set, data is served only to requests
    whose Authorization header is that; every request's header is kept in ``authorizations``."""

    data: bytes
    cut = False
    required: str | None = None
    ranges: list[str]
    authorizations: list[str | None]

    def url(self, path: str = "/data") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (the tests cut and kill on purpose)
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: Origin

    def log_message(self, *args: Any) -> None:
        pass

    def redirected(self) -> bool:
        """/redirect?to=URL answers 302 to URL."""
        if not self.path.startswith("/redirect?to="):
            return False
        self.send_response(302)
        self.send_header("location", self.path.partition("=")[2])
        self.send_header("content-length", "0")
        self.end_headers()
        return True

    def do_HEAD(self) -> None:
        """The size of /data or /plain (what an http store asks of a location)."""
        if self.redirected():
            return
        self.send_response(200 if self.path in ("/data", "/plain") else 404)
        self.send_header("content-length", str(len(self.server.data)))
        self.end_headers()

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("authorization"))
        if self.redirected():
            return
        if self.server.required and self.headers.get("authorization") != self.server.required:
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        data = self.server.data
        start, end = 0, len(data)
        if "range" in self.headers:
            self.server.ranges.append(self.headers["range"])
            first, _, last = self.headers["range"].removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) + 1 if last else end
        partial = (start, end) != (0, len(data))
        self.send_response(206 if partial else 200)
        if self.path in ("/data", "/slow"):
            self.send_header("etag", '"' + hashlib.md5(data).hexdigest() + '"')
        if partial:
            self.send_header("content-range", f"bytes {start}-{end - 1}/{len(data)}")
        self.send_header("content-length", str(end - start))
        self.end_headers()
        body = memoryview(data)[start:end]
        if self.server.cut and not start:
            self.server.cut = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/slow":
            for offset in range(0, len(body), 64 * 1024):
                self.wfile.write(body[offset : offset + 64 * 1024])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serving(data: bytes) -> Iterator[Origin]:
    server = Origin(("127.0.0.1", 0), Handler)
    server.data, server.ranges, server.authorizations = data, [], []
    with served(server):
        yield server


@contextlib.contextmanager
def served(server: socketserver.BaseServer) -> Iterator[None]:
    """``server`` answering on a thread of its own while the block runs, then closed."""
    # serve_forever looks for shutdown() every poll_interval: its default half second was
    # spent again in every test's teardown.
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
