"""Resumable uploads against a live server: PATCHes cut at random points (mid-chunk, by a
clean close or a reset), the server killed in the middle of one and started again, and the
upload resumed from what HEAD says each time; the image at the end has every byte, its
size, md5 and sha256 those of the file."""

from __future__ import annotations

import base64
import hashlib
import random
import socket
import struct
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.resilience.conftest import Deployment
from tests.resilience.server import LiveServer

MiB = 1024 * 1024
TUS = {"tus-resumable": "1.0.0"}
CUTS = 6
SETTLE_TIMEOUT = 20.0


def cut_patch(url: str, path: str, offset: int, data: bytes, chooser: random.Random) -> int:
    """A PATCH meant to send ``data`` from ``offset`` that sends part of it and goes away
    (FIN or RST); how many bytes it sent."""
    sent = chooser.randint(1, len(data) // 3)  # some of the rest, never all of it
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as client:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {address.netloc}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        client.sendall(head.encode())
        client.sendall(data[:sent])
        time.sleep(chooser.uniform(0, 0.05))
        if chooser.random() < 0.5:  # a reset rather than a clean close
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return sent


def settled_offset(api: httpx.Client, path: str, at_least: int, at_most: int) -> int:
    """The upload's offset once the cut PATCH has been seen to end (its claim released:
    an empty PATCH at the offset is taken)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        offset = int(api.head(path, headers=TUS).headers["upload-offset"])
        probe = api.patch(
            path, content=b"", headers={**TUS, "upload-offset": str(offset),
                                        "content-type": "application/offset+octet-stream"},
        )  # fmt: skip
        if probe.status_code == 204:
            assert at_least <= offset <= at_most, (at_least, offset, at_most)
            return offset
        assert probe.status_code == 409, probe.text
        assert time.monotonic() < deadline, "the cut PATCH never ended"
        time.sleep(0.1)


@pytest.mark.parametrize("deployment", ["sqlite-filesystem", "postgresql-swift"], indirect=True)
def test_cut_and_killed_uploads_resume_to_the_whole_file(deployment: Deployment) -> None:
    chooser = random.Random(23)
    data = chooser.randbytes(6 * MiB + 123)
    server = LiveServer(deployment.root, deployment.settings)
    server.start()
    try:
        meta = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in (("name", "resumed"), ("disk_format", "raw"),
                               ("container_format", "bare"))
        )  # fmt: skip
        with httpx.Client(base_url=server.url, timeout=30) as api:
            created = api.post(
                "/uploads/", headers={**TUS, "upload-length": str(len(data)),
                                      "upload-metadata": meta},
            )  # fmt: skip
            assert created.status_code == 201, created.text
            path = urlsplit(created.headers["location"]).path
            image_id = created.headers["lading-artifact-id"]
        offset = 0
        for cut in range(CUTS):
            with httpx.Client(base_url=server.url, timeout=30) as api:
                sent = cut_patch(server.url, path, offset, data[offset:], chooser)
                offset = settled_offset(api, path, offset, offset + sent)
                shown = api.get(f"/v2/images/{image_id}").json()
                assert shown["status"] == "queued"  # never active before the last byte
            assert offset > 0
            if cut == CUTS // 2:
                # Killed in the middle of a PATCH: the next server takes over the upload,
                # its hashes rebuilt from the store.
                address = urlsplit(server.url)
                with socket.create_connection((address.hostname, address.port)) as client:
                    client.sendall(
                        f"PATCH {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                        "Content-Type: application/offset+octet-stream\r\n"
                        f"Content-Length: {len(data) - offset}\r\n\r\n".encode()
                    )
                    part = (len(data) - offset) // 3
                    client.sendall(data[offset : offset + part])
                    time.sleep(0.2)
                    server.kill()
                server.start()
                with httpx.Client(base_url=server.url, timeout=30) as api:
                    offset = settled_offset(api, path, offset, offset + part)
        with httpx.Client(base_url=server.url, timeout=60) as api:
            last = api.patch(
                path, content=data[offset:],
                headers={**TUS, "upload-offset": str(offset),
                         "content-type": "application/offset+octet-stream"},
            )  # fmt: skip
            assert last.status_code == 204, last.text
            shown = api.get(f"/v2/images/{image_id}").json()
            assert shown["status"] == "active" and shown["size"] == len(data)
            assert shown["checksum"] == hashlib.md5(data).hexdigest()
            assert shown["os_hash_value"] == hashlib.sha256(data).hexdigest()
            assert api.get(f"/v2/images/{image_id}/file").content == data
    finally:
        server.stop()
