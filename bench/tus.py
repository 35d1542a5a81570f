"""Resumable upload benchmark: a large image (5 GiB by default) sent to ``/uploads/`` in
PATCHes of ``--chunk-mib``, one of them cut half-way by the client (a clean close) and
resumed from what HEAD says, with the server's memory sampled throughout.

Starts lading (SQLite, one worker, an admin token) in a scratch directory, on the
filesystem store, or with ``--store s3`` or ``--store swift`` on a fresh bucket or
container of the local Swift (bench/_s3.py, bench/_swift.py), where the finish copies the
parts into the image's object. The bytes are made as they are sent (a counter through
sha256, 1 MiB at a time) and hashed on the client's side, so the client holds no more
than one piece either. Prints the time of the upload (to the last byte stored) and of
its finish (the image made active: the answer to a last PATCH of one byte), the server's
resident memory at the start and its peak, and checks that the image's size, md5 and
sha256 are the file's.

    .venv/bin/python bench/tus.py                       # 5 GiB
    .venv/bin/python bench/tus.py --size-mib 1024 --chunk-mib 256
    .venv/bin/python bench/tus.py --size-mib 1024 --chunk-mib 256 --store swift
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import httpx

import _s3 as s3
import _swift as swift
from _server import MB, MiB, RssSampler, running_server, temp_dir

TUS = {"tus-resumable": "1.0.0"}
PIECE = MiB


def piece(number: int) -> bytes:
    """The ``number``th MiB of the file: the same bytes whenever it is asked for."""
    seed = hashlib.sha256(number.to_bytes(8, "big")).digest()
    return seed * (PIECE // len(seed))


def pieces(start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` of the file, a piece at a time."""
    offset = start
    while offset < end:
        number, skip = divmod(offset, PIECE)
        chunk = piece(number)[skip : skip + end - offset]
        offset += len(chunk)
        yield chunk


def cut_patch(url: str, headers: dict[str, str], offset: int, end: int, sent: int) -> None:
    """A PATCH meant to carry ``offset``..``end`` that sends ``sent`` bytes and closes."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as client:
        lines = [f"PATCH {address.path} HTTP/1.1", f"Host: {address.netloc}",
                 "Tus-Resumable: 1.0.0", f"Upload-Offset: {offset}",
                 "Content-Type: application/offset+octet-stream",
                 f"Content-Length: {end - offset}",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for chunk in pieces(offset, offset + sent):
            client.sendall(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--size-mib", type=int, default=5 * 1024)
    parser.add_argument("--chunk-mib", type=int, default=1024)
    parser.add_argument("--store", choices=("filesystem", "s3", "swift"), default="filesystem")
    options = parser.parse_args()
    size, chunk = options.size_mib * MiB, options.chunk_mib * MiB
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    for part in pieces(0, size):
        md5.update(part)
        sha256.update(part)
    with ExitStack() as stack:
        root = stack.enter_context(temp_dir(None, "lading-bench-tus-"))
        settings = {}
        if options.store != "filesystem":
            backend = s3 if options.store == "s3" else swift
            settings["LADING_STORES"] = backend.lading_stores(
                stack.enter_context(backend.scratch())
            )
        server = stack.enter_context(running_server(root / "data", settings=settings, token=True))
        rss = stack.enter_context(RssSampler(server))
        base = rss.rss()
        meta = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                        for key, value in (("name", "big"), ("disk_format", "raw"),
                                           ("container_format", "bare")))  # fmt: skip
        with httpx.Client(base_url=server.base_url, headers=server.headers,
                          timeout=3600) as api:  # fmt: skip
            created = api.post("/uploads/", headers={**TUS, "upload-length": str(size),
                                                     "upload-metadata": meta})  # fmt: skip
            created.raise_for_status()
            url = created.headers["location"]
            image_id = created.headers["lading-artifact-id"]
            started = time.perf_counter()
            offset, cut = 0, False
            finish = 0.0
            while offset < size:
                end = min(offset + chunk, size)
                if end == size and end - offset > 1:
                    end -= 1  # the last PATCH brings one byte: its answer times the finish
                if not cut and offset >= size // 2:
                    cut_patch(url, server.headers, offset, end, (end - offset) // 2)
                    cut = True
                    for _ in range(600):  # until the server has seen the cut
                        shown = api.head(url, headers=TUS)
                        moved = int(shown.headers["upload-offset"])
                        probe = api.patch(url, content=b"", headers={
                            **TUS, "upload-offset": str(moved),
                            "content-type": "application/offset+octet-stream"})  # fmt: skip
                        if probe.status_code == 204:
                            break
                        time.sleep(0.1)
                    assert moved > offset, "the cut PATCH kept nothing"
                    offset = moved
                    continue
                last = end == size
                before = time.perf_counter()
                answer = api.patch(url, content=pieces(offset, end), headers={
                    **TUS, "upload-offset": str(offset), "content-length": str(end - offset),
                    "content-type": "application/offset+octet-stream"})  # fmt: skip
                answer.raise_for_status()
                if last:  # its answer waits for the image to be made
                    finish = time.perf_counter() - before
                offset = int(answer.headers["upload-offset"])
            elapsed = time.perf_counter() - started
            image = api.get(f"/v2/images/{image_id}").json()
        peak = rss.take_peak()
    assert image["status"] == "active" and image["size"] == size, image
    assert image["checksum"] == md5.hexdigest() and image["os_hash_value"] == sha256.hexdigest()
    print(f"{options.size_mib} MiB in PATCHes of {options.chunk_mib} MiB, one cut half-way, "
          f"{options.store} store")  # fmt: skip
    print(f"upload and finish: {elapsed:.1f} s ({size / elapsed / MB:.0f} MB/s); "
          f"the last PATCH's answer (with the finish) {finish:.1f} s, "
          f"{finish / (size / 2**30):.1f} s per GiB")  # fmt: skip
    print(f"server RSS: {base / MiB:.0f} MiB at the start, {peak / MiB:.0f} MiB at its peak")
    print("the image: active, size, md5 and sha256 the file's")


if __name__ == "__main__":
    main()
