"""Resumable uploads over the tus protocol 1.0, client side: what ``lading upload`` sends
when the server offers tus at ``/uploads/``.

An upload is created first (``POST``, no bytes), so that its URL can be kept before any
byte leaves; the file then goes in ``PATCH`` requests of ``chunk_size`` bytes, each read
from the file a piece at a time as it is sent (memory stays at one piece, whatever the
chunk). A request cut off, or answered 5xx, 423 or 460 (a chunk that did not match its
checksum), is retried after a backoff from the offset the server says it holds (``HEAD``),
a bounded number of times in a row; an attempt that moved the offset on, even one cut
off, resets that count (the offset only grows, so this ends too).

The file's SHA-256 is computed from the pieces as they go (and, on resuming, from the
bytes an earlier run sent, read back once), for the caller to compare with the
artifact's: one check of the whole, whatever the runs and cuts. Per-chunk checksums
(tus' checksum extension, ``checksums=True``) are off by default: a chunk that carries one
is all or nothing, so a cut would throw away what arrived of it (up to a chunk) where
without one the server keeps every byte that came; and its header, going before the
body, costs a second read of each chunk.

The protocol: https://tus.io/protocols/resumable-upload (core, creation, termination,
checksum, expiration). Creation-with-upload is not used, on purpose: the URL of an upload
whose first bytes ride on its ``POST`` is lost with the connection, and those bytes with it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from lading.client import CHUNK, Client, Progress, raise_for
from lading.errors import BadAnswer, Conflict, LadingError, ServerUnreachable, TooLarge

__all__ = ["DEFAULT_CHUNK_SIZE", "Offer", "Place", "Sent", "Uploads"]

TUS_RESUMABLE = "1.0.0"
UPLOADS = "/uploads/"
OFFSET_TYPE = "application/offset+octet-stream"
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
RETRIES = 5  # failed requests in a row before the upload gives up (and can be resumed)
FIRST_BACKOFF, LONGEST_BACKOFF = 0.5, 15.0  # seconds
# 423: the server still holds the upload for a request it has not seen end yet; 460: the
# chunk did not match its checksum (tus' checksum extension).
RETRIED = frozenset({423, 460, 500, 502, 503, 504})
# Chunk checksums, the strongest the server offers first; sha1 is the one tus requires.
CHECKSUMS = ("sha256", "sha1", "md5")
# The PATCH that brings the last byte is answered once the server has made the artifact
# of the upload: it reads every byte back into the store. Its answer is awaited for as
# long as that takes at FINISH_RATE (a slow store), and another request finishing it is
# asked after every FINISH_POLL seconds, as long again.
FINISH_RATE = 20 * 1024 * 1024  # bytes per second
FINISH_POLL = 2.0


@dataclass(frozen=True, slots=True)
class Offer:
    """What a server's ``OPTIONS /uploads/`` says it takes."""

    versions: tuple[str, ...]
    extensions: frozenset[str]
    max_size: int | None
    checksum: str | None  # the algorithm chunks are checked with, None: unchecked

    @classmethod
    def of(cls, headers: httpx.Headers) -> Offer:
        extensions = frozenset(_listed(headers, "tus-extension"))
        offered = _listed(headers, "tus-checksum-algorithm") if "checksum" in extensions else ()
        return cls(
            versions=_listed(headers, "tus-version"),
            extensions=extensions,
            max_size=_count(headers, "tus-max-size"),
            checksum=next((name for name in CHECKSUMS if name in offered), None),
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """An upload done: where it ended, and the SHA-256 of the file's bytes as sent (to be
    compared with the artifact's: a check of the whole, across every run that sent it)."""

    place: Place
    sha256: str


@dataclass(frozen=True, slots=True)
class Place:
    """An upload on the server: its URL, the bytes it holds, and until when it is kept."""

    url: str
    offset: int
    length: int | None
    expires: datetime | None


class Uploads:
    """tus uploads through a ``Client`` (its token, its connection pool)."""

    def __init__(
        self,
        client: Client,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retries: int = RETRIES,
        checksums: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._client = client
        self.chunk_size = chunk_size
        self.retries = retries
        self.checksums = checksums
        self._sleep = sleep

    def offer(self) -> Offer | None:
        """What the server offers, None when it has no tus 1.0 at ``/uploads/``."""
        answer = self._client.send("OPTIONS", UPLOADS)
        if answer.status_code >= 300 or "tus-version" not in answer.headers:
            return None
        offer = Offer.of(answer.headers)
        if TUS_RESUMABLE not in offer.versions or "creation" not in offer.extensions:
            return None
        return offer

    def create(self, offer: Offer, length: int, metadata: Mapping[str, str]) -> Place:
        """A new, empty upload of ``length`` bytes described by ``metadata``."""
        if offer.max_size is not None and length > offer.max_size:
            raise TooLarge(f"{length} bytes is more than the server takes ({offer.max_size})")
        headers = self._headers(
            {"upload-length": str(length), "upload-metadata": encode_metadata(metadata)}
        )
        answer = self._client.send("POST", UPLOADS, headers=headers)
        raise_for(answer)
        location = answer.headers.get("location")
        if not location:
            raise BadAnswer("the server created an upload without saying where (no Location)")
        url = _here(str(answer.request.url), location)
        return Place(url, _count(answer.headers, "upload-offset") or 0, length, _expiry(answer))

    def place(self, url: str) -> Place:
        """Where an upload stands (``HEAD``): ``NotFound`` or ``Gone`` once it is not kept."""
        answer = self._client.send("HEAD", url, headers=self._headers({}))
        raise_for(answer)
        return self._place_of(url, answer)

    def _place_of(self, url: str, answer: httpx.Response) -> Place:
        offset = _count(answer.headers, "upload-offset")
        if offset is None:
            raise BadAnswer(f"{url} answered HEAD without Upload-Offset")
        return Place(url, offset, _count(answer.headers, "upload-length"), _expiry(answer))

    def terminate(self, url: str) -> None:
        """Drop an upload and its bytes (termination); one already gone is fine."""
        answer = self._client.send("DELETE", url, headers=self._headers({}))
        if answer.status_code not in (404, 410):
            raise_for(answer)

    def send(
        self,
        place: Place,
        path: Path,
        *,
        checksum: str | None = None,
        progress: Progress | None = None,
    ) -> Sent:
        """Send ``path`` from where ``place`` stands until the server has made its
        artifact of it (the answer to the PATCH that brings the last byte)."""
        length = path.stat().st_size if place.length is None else place.length
        failures, finished, finishing_since = 0, False, None
        with path.open("rb") as file:
            sent = _Prefix(file)
            while not finished:
                if progress:
                    progress(place.offset)
                try:
                    if place.offset < length:
                        sent.catch_up(place.offset)
                        moved, finished = self._patch(place, file, length, checksum, progress, sent)
                    else:  # every byte is there, the answer that it was taken is not
                        moved, finished = place, self._finish(place)
                except (ServerUnreachable, _Retry) as exc:
                    failures += 1
                    if failures > self.retries:
                        raise _failure(exc) from exc
                    self._sleep(min(FIRST_BACKOFF * 2 ** (failures - 1), LONGEST_BACKOFF))
                    held = self._place_after(place)
                    if held.offset > place.offset:  # the cut-off request still moved it on
                        failures = 0
                    place = held
                    continue
                if moved.offset > place.offset:
                    failures = 0
                if place.offset == length and not finished:
                    # Another request (the one cut off) is finishing it: wait for that.
                    finishing_since = finishing_since or time.monotonic()
                    if time.monotonic() - finishing_since > _finish_time(length):
                        raise ServerUnreachable(f"{place.url} is still being finished")
                    self._sleep(FINISH_POLL)
                place = moved
            sent.catch_up(length)
        if progress:
            progress(place.offset)
        return Sent(place, sent.hexdigest())

    def _place_after(self, place: Place) -> Place:
        """Where to go on from after a failed request: the server's offset, or, when even
        asking fails for a while, the one known (the next PATCH is told if it is wrong)."""
        try:
            answer = self._client.send("HEAD", place.url, headers=self._headers({}))
        except ServerUnreachable:
            return place
        if answer.status_code in RETRIED:
            return place
        raise_for(answer)
        return self._place_of(place.url, answer)

    def _patch(
        self,
        place: Place,
        file: BinaryIO,
        length: int,
        checksum: str | None,
        progress: Progress | None,
        sent: _Prefix,
    ) -> tuple[Place, bool]:
        """One chunk from ``place``: where the upload stands after it, and whether the
        server said it finished the upload (its answer to the last byte)."""
        size = min(self.chunk_size, length - place.offset)
        headers = {
            "upload-offset": str(place.offset),
            "content-type": OFFSET_TYPE,
            "content-length": str(size),
        }
        if checksum and self.checksums:
            digest = _digest_of(file, place.offset, size, checksum)
            headers["upload-checksum"] = f"{checksum} {digest}"
        body = _pieces(file, place.offset, size, progress, sent.feed)
        last = place.offset + size == length
        answer = self._client.send(
            "PATCH", place.url, headers=self._headers(headers), content=body,
            timeout=_finish_timeout(length) if last else httpx.USE_CLIENT_DEFAULT,
        )  # fmt: skip
        if answer.status_code == 409:
            # An offset the server no longer holds (it took more after we asked): go on
            # from its own. At the same offset, the upload is held by a request the
            # server has not seen end yet (the one cut off): ask again, as for a 423.
            now = self.place(place.url)
            if now.offset == place.offset:
                raise _Retry(answer)
            return now, False
        if answer.status_code in RETRIED:
            raise _Retry(answer)
        raise_for(answer)
        offset = _count(answer.headers, "upload-offset")
        if offset is None or not place.offset <= offset <= length:
            raise BadAnswer(f"{place.url} answered PATCH with Upload-Offset {offset!r}")
        return Place(place.url, offset, length, _expiry(answer) or place.expires), offset == length

    def _finish(self, place: Place) -> bool:
        """An empty PATCH at the end: the server finishes an upload whose finish failed
        (its store, its catalogue), or says it is finished; False while another request
        is finishing it (409)."""
        headers = {"upload-offset": str(place.offset), "content-type": OFFSET_TYPE}
        answer = self._client.send(
            "PATCH", place.url, headers=self._headers(headers), content=b"",
            timeout=_finish_timeout(place.offset),
        )  # fmt: skip
        if answer.status_code == 409:
            return False
        if answer.status_code in RETRIED:
            raise _Retry(answer)
        raise_for(answer)
        return True

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {"tus-resumable": TUS_RESUMABLE, **extra}


class _Retry(Exception):
    """An answer worth asking again for (5xx, 423, 460)."""

    def __init__(self, answer: httpx.Response) -> None:
        super().__init__(f"{answer.request.method} {answer.request.url}: {answer.status_code}")
        self.answer = answer


def _failure(exc: Exception) -> LadingError:
    """The error to give up with: the server's own, for an answer it gave."""
    if isinstance(exc, _Retry):
        try:
            raise_for(exc.answer)
        except LadingError as error:
            return error
        return Conflict(str(exc))  # every retried status fails, so raise_for raised
    assert isinstance(exc, LadingError)
    return exc


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """``key base64(value)`` pairs, comma-separated, as ``Upload-Metadata`` carries them."""
    for key in metadata:
        if not key or any(character in key for character in " ,") or not key.isascii():
            raise ValueError(f"{key!r} cannot be an Upload-Metadata key")
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items()
    )


def _pieces(
    file: BinaryIO,
    offset: int,
    size: int,
    progress: Progress | None,
    seen: Callable[[int, bytes], None] | None = None,
) -> Iterator[bytes]:
    """``size`` bytes of ``file`` from ``offset``, a piece at a time, reporting progress."""
    file.seek(offset)
    sent = 0
    while sent < size:
        piece = file.read(min(CHUNK, size - sent))
        if not piece:
            raise Conflict(f"the file ended at byte {offset + sent}: it changed while sent")
        if seen:
            seen(offset + sent, piece)
        sent += len(piece)
        yield piece
        if progress:
            progress(offset + sent)


class _Prefix:
    """The SHA-256 of the file's first ``size`` bytes, grown from the pieces as they are
    sent: a piece sent again (after a cut) is not hashed twice, and bytes the server got
    from an earlier run are read back from the file once (``catch_up``)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file, self._hash, self.size = file, hashlib.sha256(), 0

    def catch_up(self, offset: int) -> None:
        if offset > self.size:
            for _ in _pieces(self._file, self.size, offset - self.size, None, self.feed):
                pass

    def feed(self, at: int, piece: bytes) -> None:
        end = at + len(piece)
        if at <= self.size < end:
            self._hash.update(piece[self.size - at :])
            self.size = end

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _digest_of(file: BinaryIO, offset: int, size: int, algorithm: str) -> str:
    """The chunk's digest, base64 as ``Upload-Checksum`` carries it: read once before it
    is sent, since the header goes before the body."""
    digest = hashlib.new(algorithm)
    for piece in _pieces(file, offset, size, None):
        digest.update(piece)
    return base64.b64encode(digest.digest()).decode()


def _here(asked: str, location: str) -> str:
    """The upload's URL on the server asked: a Location naming another origin is taken
    for its path there, so that the token (a default header of every request) never goes
    to a host the user did not name, whatever a server or a proxy before it says."""
    url = urlsplit(urljoin(asked, location))
    server = urlsplit(asked)
    if (url.scheme, url.netloc) == (server.scheme, server.netloc):
        return url.geturl()
    return urlunsplit((server.scheme, server.netloc, url.path, url.query, ""))


def _finish_time(length: int) -> float:
    return max(60.0, length / FINISH_RATE)


def _finish_timeout(length: int) -> httpx.Timeout:
    return httpx.Timeout(60.0, connect=10.0, read=_finish_time(length))


def _listed(headers: httpx.Headers, name: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in headers.get(name, "").split(",") if item.strip())


def _count(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise BadAnswer(f"{name}: {value!r} is not a count of bytes")
    return int(value)


def _expiry(answer: httpx.Response) -> datetime | None:
    value = answer.headers.get("upload-expires")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # an expiry we cannot read is only a hint lost
