"""The tus client (``lading.resumable``) against a small tus 1.0 server kept in memory,
behind httpx's mock transport: chunks, a connection cut mid-chunk, checksums refused,
offsets that moved, retries that end. The CLI against a live lading is in
tests/clients/test_lading_cli_resume.py."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from lading.client import CHUNK, Client
from lading.errors import Gone, NotFound, ServerUnreachable, TooLarge
from lading.resumable import Offer, Place, Uploads, encode_metadata

MiB = 1024 * 1024


@dataclass
class Upload:
    length: int
    metadata: str
    data: bytearray = field(default_factory=bytearray)


@dataclass
class TusServer:
    """tus 1.0 core, creation, termination, checksum and expiration, in memory. Faults:
    ``cut_after`` bytes of the next PATCHes' bodies (kept, as a server keeps what
    arrived), ``refuse_checksums`` times 460, ``answer`` a status to the next PATCHes."""

    extensions: str = "creation,termination,checksum,expiration"
    algorithms: str = "sha1,sha256"
    max_size: int | None = None
    origin: str = ""  # what Location starts with: "" (a path), or another server's
    uploads: dict[str, Upload] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    refuse_checksums: int = 0
    lose_answers: int = 0  # PATCHes taken whole whose answer never arrives
    finishing: int = 0  # empty PATCHes at the end answered 409: another request finishes
    answers: list[int] = field(default_factory=list)
    patches: list[tuple[int, int]] = field(default_factory=list)  # (offset, bytes received)
    pieces: list[int] = field(default_factory=list)
    checksums: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        tus = {"tus-resumable": "1.0.0"}
        if request.method == "OPTIONS":
            headers = {**tus, "tus-version": "1.0.0", "tus-extension": self.extensions,
                       "tus-checksum-algorithm": self.algorithms}  # fmt: skip
            if self.max_size is not None:
                headers["tus-max-size"] = str(self.max_size)
            return httpx.Response(204, headers=headers)
        if request.headers.get("tus-resumable") != "1.0.0":
            return httpx.Response(412, headers=tus)
        if request.method == "POST":
            key = f"u{len(self.uploads)}"
            self.uploads[key] = Upload(
                int(request.headers["upload-length"]), request.headers["upload-metadata"]
            )
            headers = {**tus, "location": f"{self.origin}/uploads/{key}", "upload-offset": "0",
                       "upload-expires": "Wed, 09 Dec 2026 10:00:00 GMT"}  # fmt: skip
            return httpx.Response(201, headers=headers)
        upload = self.uploads.get(request.url.path.rpartition("/")[2])
        if upload is None:
            return httpx.Response(404, headers=tus)
        if request.method == "HEAD":
            headers = {**tus, "upload-offset": str(len(upload.data)),
                       "upload-length": str(upload.length)}  # fmt: skip
            return httpx.Response(200, headers=headers)
        if request.method == "DELETE":
            del self.uploads[request.url.path.rpartition("/")[2]]
            return httpx.Response(204, headers=tus)
        assert request.method == "PATCH"
        assert request.headers["content-type"] == "application/offset+octet-stream"
        if self.answers:
            request.read()
            return httpx.Response(self.answers.pop(0), headers=tus)
        offset = int(request.headers["upload-offset"])
        if offset == upload.length and offset == len(upload.data):
            assert request.read() == b""
            self.patches.append((offset, 0))
            if self.finishing:
                self.finishing -= 1
                return httpx.Response(409, headers=tus)
            return httpx.Response(204, headers={**tus, "upload-offset": str(offset)})
        if offset != len(upload.data):
            request.read()
            return httpx.Response(409, headers=tus)
        budget = self.cuts.pop(0) if self.cuts else None
        received = bytearray()
        for piece in request.stream:  # type: ignore[union-attr]
            assert isinstance(piece, bytes)
            self.pieces.append(len(piece))
            if budget is not None and len(received) + len(piece) > budget:
                upload.data += received + piece[: budget - len(received)]
                self.patches.append((offset, budget))
                raise httpx.WriteError("the connection was cut")
            received += piece
        self.patches.append((offset, len(received)))
        if checksum := request.headers.get("upload-checksum"):
            self.checksums.append(checksum)
            algorithm, _, value = checksum.partition(" ")
            expected = base64.b64encode(hashlib.new(algorithm, received).digest()).decode()
            if self.refuse_checksums or value != expected:
                self.refuse_checksums = max(self.refuse_checksums - 1, 0)
                return httpx.Response(460, headers=tus)
        upload.data += received
        if self.lose_answers:
            self.lose_answers -= 1
            raise httpx.ReadError("the answer was lost")
        return httpx.Response(204, headers={**tus, "upload-offset": str(len(upload.data))})


class Unread(httpx.BaseTransport):
    """Hands the request to the server with its body unread (httpx's MockTransport reads
    it whole first), so that the server sees the pieces as they are sent."""

    def __init__(self, server: Callable[[httpx.Request], httpx.Response]) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.server(request)


@pytest.fixture
def server() -> TusServer:
    return TusServer()


@pytest.fixture
def naps() -> list[float]:
    return []


def uploads_of(server: TusServer, naps: list[float], **options: int) -> Uploads:
    client = Client("http://lading.test", "token", transport=Unread(server))
    return Uploads(client, sleep=naps.append, **options)  # type: ignore[arg-type]


def a_file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    return path, data


def begin(uploads: Uploads, path: Path) -> tuple[Offer, Place]:
    offer = uploads.offer()
    assert offer is not None
    return offer, uploads.create(offer, path.stat().st_size, {"artifact": "a1", "filename": "x"})


def test_a_file_goes_in_chunks_of_the_size_asked_a_piece_at_a_time(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 5 * MiB + 17)
    uploads = uploads_of(server, naps, chunk_size=2 * MiB, checksums=True)
    offer, place = begin(uploads, path)
    seen: list[int] = []
    done = uploads.send(place, path, checksum=offer.checksum, progress=seen.append)
    assert done.place.offset == len(data) and bytes(server.uploads["u0"].data) == data
    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert [received for _, received in server.patches] == [2 * MiB, 2 * MiB, MiB + 17]
    assert max(server.pieces) <= CHUNK  # never a whole chunk in memory
    assert seen == sorted(seen) and seen[-1] == len(data)
    assert server.checksums[0].startswith("sha256 ")  # the strongest offered
    assert place.url == "http://lading.test/uploads/u0" and place.expires is not None
    assert server.uploads["u0"].metadata == encode_metadata({"artifact": "a1", "filename": "x"})
    assert not naps


def test_a_cut_mid_chunk_resumes_from_the_servers_offset(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 6 * MiB)
    uploads = uploads_of(server, naps, chunk_size=4 * MiB)
    _offer, place = begin(uploads, path)
    server.cuts = [3 * MiB + 5]  # the first PATCH dies 3 MiB and 5 bytes in
    done = uploads.send(place, path, checksum=None)
    assert bytes(server.uploads["u0"].data) == data
    assert done.sha256 == hashlib.sha256(data).hexdigest()  # the bytes sent twice, once
    # The second PATCH starts where the server stopped, not where the chunk began.
    assert server.patches == [(0, 3 * MiB + 5), (3 * MiB + 5, 3 * MiB - 5)]
    assert naps == [0.5]


def test_a_checksum_refused_sends_the_chunk_again(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 3 * MiB)
    server.refuse_checksums = 2
    uploads = uploads_of(server, naps, chunk_size=2 * MiB, checksums=True)
    offer, place = begin(uploads, path)
    uploads.send(place, path, checksum=offer.checksum)
    assert bytes(server.uploads["u0"].data) == data
    assert [offset for offset, _ in server.patches] == [0, 0, 0, 2 * MiB]
    assert naps == [0.5, 1.0]


def test_retries_end_when_nothing_moves_and_the_upload_stays_resumable(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 2 * MiB)
    uploads = uploads_of(server, naps, chunk_size=MiB, retries=3)
    _offer, place = begin(uploads, path)
    server.cuts = [0] * 10
    with pytest.raises(ServerUnreachable):
        uploads.send(place, path, checksum=None)
    assert naps == [0.5, 1.0, 2.0]  # backoff doubles, and stops after three
    server.cuts = []
    server.uploads["u0"].data += data[: MiB + 3]  # what the cut requests brought
    later = uploads_of(server, naps, chunk_size=MiB)  # a later run goes on
    done = later.send(later.place(place.url), path, checksum=None)
    assert bytes(server.uploads["u0"].data) == data
    assert server.patches[-1] == (MiB + 3, MiB - 3)  # only the rest
    assert done.sha256 == hashlib.sha256(data).hexdigest()  # with the bytes read back


def test_progress_resets_the_count_of_failures(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 4 * MiB)
    uploads = uploads_of(server, naps, chunk_size=4 * MiB, retries=1)
    _offer, place = begin(uploads, path)
    server.cuts = [MiB, MiB, MiB]  # each attempt moves on a MiB, then dies
    uploads.send(place, path, checksum=None)
    assert bytes(server.uploads["u0"].data) == data
    assert naps == [0.5, 0.5, 0.5]


def test_a_server_busy_or_answering_an_old_offset_is_asked_again(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 2 * MiB)
    uploads = uploads_of(server, naps, chunk_size=MiB)
    _offer, place = begin(uploads, path)
    server.answers = [503, 423]
    # A PATCH the client thinks lost that the server took: the next offset is stale (409).
    server.uploads["u0"].data += data[:1000]
    uploads.send(place, path, checksum=None)
    assert bytes(server.uploads["u0"].data) == data


def test_a_lost_answer_to_the_last_chunk_is_asked_for_and_a_finish_in_progress_awaited(
    server: TusServer, naps: list[float], tmp_path: Path
) -> None:
    path, data = a_file(tmp_path, 2 * MiB)
    uploads = uploads_of(server, naps, chunk_size=MiB)
    _, place = begin(uploads, path)
    server.lose_answers, server.finishing = 2, 2
    done = uploads.send(place, path, checksum=None)
    assert done.place.offset == len(data) and bytes(server.uploads["u0"].data) == data
    # The first chunk's answer lost: HEAD says it arrived; the last one's too: an empty
    # PATCH asks for the finish, answered 409 twice while "another request" finishes it.
    assert server.patches == [(0, MiB), (MiB, MiB), (2 * MiB, 0), (2 * MiB, 0), (2 * MiB, 0)]
    assert naps == [0.5, 0.5, 2.0, 2.0]


def test_what_the_server_does_not_offer(tmp_path: Path, naps: list[float]) -> None:
    assert uploads_of(TusServer(extensions="termination"), naps).offer() is None
    missing = httpx.MockTransport(lambda _: httpx.Response(404))
    nothing = Client("http://lading.test", transport=missing)
    assert Uploads(nothing).offer() is None
    unchecked = uploads_of(TusServer(extensions="creation", algorithms="sha1"), naps).offer()
    assert unchecked is not None and unchecked.checksum is None
    small = uploads_of(TusServer(max_size=10), naps)
    offer = small.offer()
    assert offer is not None
    with pytest.raises(TooLarge):
        small.create(offer, 11, {})


def test_an_upload_terminated_is_gone(server: TusServer, naps: list[float], tmp_path: Path) -> None:
    path, _ = a_file(tmp_path, 10)
    uploads = uploads_of(server, naps)
    _, place = begin(uploads, path)
    uploads.terminate(place.url)
    uploads.terminate(place.url)  # twice is fine
    with pytest.raises((NotFound, Gone)):
        uploads.place(place.url)


def test_a_location_on_another_host_is_taken_for_its_path_on_this_one(
    naps: list[float], tmp_path: Path
) -> None:
    """The token goes with every request: never to a host the user did not name."""
    server = TusServer(origin="https://elsewhere.test:8443")
    path, data = a_file(tmp_path, 1000)
    uploads = uploads_of(server, naps)
    _, place = begin(uploads, path)
    assert place.url == "http://lading.test/uploads/u0"
    uploads.send(place, path)
    assert bytes(server.uploads["u0"].data) == data


@pytest.mark.parametrize("key", ["", "two words", "a,b", "é"])
def test_metadata_keys_tus_cannot_carry_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        encode_metadata({key: "x"})


def test_metadata_values_are_base64_of_utf8() -> None:
    encoded: Callable[[str], str] = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    assert encode_metadata({"name": "débian", "filename": ""}) == (
        f"name {encoded('débian')},filename {encoded('')}"
    )
