"""Hostile archives for OSM onboarding, beyond the bad packages of ``test_osm``: links
(hard and symbolic) and names that lead outside, devices, huge headers, 100,000 tiny
members, gzip bombs, gigabytes of zeros, data after the archive's end. Each is refused,
in bounded time and memory (traced in-process) and after bounded writes (counted at the
store), and leaves nothing behind: no artifact, no blob, no file in the store or beside
it."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import subprocess
import tarfile
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from lading.app import create_app
from lading.db.models import blobs
from lading.services.archive_bounds import TRAILER_MAX
from lading.services.package_archive import MAX_MEMBERS
from lading.settings import Settings
from lading.stores.base import StoredObject
from lading.stores.filesystem import FilesystemStore
from lading.stores.registry import StoreRegistry
from tests.http_origin import Origin, serving
from tests.osm_packages import gzip_bomb, package
from tests.portal import call
from tests.raw_asgi import send

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
BLOCK = tarfile.BLOCKSIZE
DESCRIPTOR = b"vnfd:vnfd-catalog:\n  vnfd:\n  - id: pkg\n    version: '1'\n"
# What onboarding one hostile archive may allocate at its peak (measured: 25 MiB for
# 100,000 members, 12 MiB for a bomb of 256 MiB; the bomb took 264 MiB before the fix).
MEMORY_BOUND = 40 * MiB
BOUNDARY = b"hostile-archive"


class CountingStore(FilesystemStore):
    """The filesystem store, counting what it was given to write, kept or not."""

    def __init__(self, root: Path) -> None:
        super().__init__("default", root, 512 * KiB)
        self.given = 0

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        async def counted() -> AsyncIterable[bytes]:
            async for chunk in chunks:
                self.given += len(chunk)
                yield chunk

        return await super().put(key, counted())


@contextlib.contextmanager
def onboarding(tmp_path: Path, **changes: Any) -> Iterator[tuple[TestClient, CountingStore]]:
    """A member's client of an app on SQLite and a counting filesystem store, with the
    settings' defaults but for ``changes``."""
    # What the app reads before it answers is what these tests count: the body an early
    # answer leaves unread is not dropped first (server.drain_bytes, 64 MiB by default).
    changes.setdefault("server", {"drain_bytes": 0, "linger_time": 0})
    settings = Settings(
        data_dir=tmp_path / "inside" / "data", database_url=f"sqlite:///{tmp_path / 'c.db'}",
        task_poll_interval=0.05, **changes,
    )  # fmt: skip
    store = CountingStore(settings.store_path("default"))
    app = create_app(settings, StoreRegistry({"default": store}, "default"))
    with TestClient(app, base_url="http://lading.test") as test_client:
        identities = test_client.app.state.services.identities  # type: ignore[attr-defined]
        token = call(test_client, identities.create, "osm", "member").token
        test_client.headers.update({"x-auth-token": token})
        yield test_client, store


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # A cap large enough that 100,000 members meet the limit on members first.
    with onboarding(tmp_path, image_size_cap=64 * MiB) as (test_client, _):
        yield test_client


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), link
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + padding


def archive(*members: bytes) -> bytes:
    """A tar of the package's descriptor and ``members``, gzipped."""
    return gzip.compress(tar(*members), compresslevel=1)


def tar(*members: bytes) -> bytes:
    """A tar of the package's descriptor and ``members``, with its end-of-archive blocks."""
    return member("pkg/pkg.yaml", data=DESCRIPTOR) + b"".join(members) + bytes(2 * BLOCK)


def onboard(client: TestClient, data: bytes) -> dict[str, Any]:
    answer = client.post("/api/upload", files={"descriptor": ("pkg.tar.gz", data)})
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = client.get(
        f"/api/upload/{answer.json()['transaction_id']}/state"
    ).json()
    return state


def onboard_streamed(
    client: TestClient, pieces: Callable[[], Iterable[bytes]]
) -> tuple[dict[str, Any], int]:
    """The state of the upload of a package made as it is sent (``pieces()``), and the
    bytes lading read of the request before it answered (the client then stops: the rest
    is never made). Its length is announced, as curl does for a file: counted first."""
    head = (b"--" + BOUNDARY + b'\r\ncontent-disposition: form-data; name="descriptor"; '
            b'filename="pkg.tar.gz"\r\ncontent-type: application/octet-stream\r\n\r\n')  # fmt: skip
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"

    def body() -> Iterator[bytes]:
        yield head
        yield from pieces()
        yield tail

    headers = [
        (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY),
        (b"content-length", b"%d" % sum(map(len, body()))),
        (b"x-auth-token", client.headers["x-auth-token"].encode()),
    ]
    answer = send(client, "POST", b"/api/upload", headers, body())
    assert answer.status == 200, answer.body
    transaction = answer.body.decode().split('"')[-2]
    state: dict[str, Any] = client.get(f"/api/upload/{transaction}/state").json()
    return state, answer.received


def zeros(size: int) -> Iterator[bytes]:
    piece = bytes(MiB)
    for _ in range(size // MiB):
        yield piece


def gzipped(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """A gzip of ``pieces``, made as it is read: each piece a gzip member (gzip -d reads
    them one after the other), so that a MiB of zeros, the same piece every time, is
    compressed once (1 KiB), and a bomb costs nothing to send."""
    made: dict[bytes, bytes] = {}
    for piece in pieces:
        if piece not in made:
            zipper = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            made[piece] = zipper.compress(piece) + zipper.flush()
        yield made[piece]


def zero_members(count: int, size: int) -> Iterator[bytes]:
    """A package's tar whose descriptor is followed by ``count`` files of ``size`` zeros."""
    yield member("pkg/pkg.yaml", data=DESCRIPTOR)
    for number in range(count):
        info = tarfile.TarInfo(f"pkg/zeros{number}.bin")
        info.size = size
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        yield from zeros(size)
    yield bytes(2 * BLOCK)


def nothing_kept(client: TestClient, root: Path, but: int = 0) -> bool:
    """No artifact, no blob, and no file but the secret key in the data directory; or
    only ``but`` packages, as many blobs and stored files."""
    packages = client.get("/v2/images").json()["images"]
    hidden = client.get("/v2/images?os_hidden=true").json()["images"]
    files = [path for path in (root / "inside").rglob("*") if path.is_file()]
    engine = create_engine(f"sqlite:///{root / 'c.db'}")
    with engine.connect() as connection:
        rows = list(connection.execute(select(blobs)))
    engine.dispose()
    stored = sorted(path.name for path in files if path.name != "secret.key")
    return (len(packages), hidden, len(rows), len(stored)) == (but, [], but, but)


REACHING_OUT = [
    (member("pkg/passwd", tarfile.LNKTYPE, link="../../etc/passwd"), "outside the package"),
    (member("pkg/passwd", tarfile.LNKTYPE, link="/etc/passwd"), "outside the package"),
    (member("pkg/up", tarfile.LNKTYPE, link="pkg/../../x"), "outside the package"),
    (member("pkg/shadow", tarfile.SYMTYPE, link="/etc/shadow"), "outside the package"),
    (member("pkg/" + "../" * 40 + "tmp/evil", data=b"x"), "escapes"),
    (member("/tmp/evil", data=b"x"), "absolute"),
    (member("pkg\\..\\..\\evil", data=b"x"), "absolute"),
    (member("pkg/" + "a/" * 600 + "evil", data=b"x"), "usable path"),
    (member("pkg/null", tarfile.CHRTYPE), "device or fifo"),
    (member("pkg/disk", tarfile.BLKTYPE), "device or fifo"),
    (member("pkg/pipe", tarfile.FIFOTYPE), "device or fifo"),
    (member("pkg/evil\nline", data=b"x"), "usable path"),
]  # fmt: skip


def test_archives_that_reach_outside_are_refused(client: TestClient, tmp_path: Path) -> None:
    for hostile, says in REACHING_OUT:
        state = onboard(client, archive(hostile))
        assert state["status"] == "failure", state
        assert says in state["errors"][0]["text"], state["errors"]
    assert nothing_kept(client, tmp_path)


def test_a_header_too_large_to_read_is_refused(client: TestClient, tmp_path: Path) -> None:
    """A pax header that says it holds a 1 GiB path is refused before it is read."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 1024 * MiB
    state = onboard(client, archive(header.tobuf(format=tarfile.USTAR_FORMAT) + bytes(MiB)))
    assert state["status"] == "failure" and "tar header" in state["errors"][0]["text"], state
    assert nothing_kept(client, tmp_path)


def tiny_members(count: int) -> Iterator[bytes]:
    """``count`` members of one byte each, ``pkg/f<n>``: one header made by tarfile, the
    others from it with their name and checksum written in (tarfile takes 20 us each)."""
    template = bytearray(tarfile.TarInfo("pkg/f").tobuf(format=tarfile.USTAR_FORMAT))
    template[124:136] = b"%011o\0" % 1  # size: one byte
    template[0:100] = bytes(100)
    template[148:156] = b" " * 8  # the checksum counts its own field as spaces
    base = sum(template)
    data = b"x" + bytes(tarfile.BLOCKSIZE - 1)
    for number in range(count):
        name = b"pkg/f%d" % number
        header = bytearray(template)
        header[: len(name)] = name
        header[148:156] = b"%06o\0 " % (base + sum(name))
        yield bytes(header) + data


def measured(action: Any) -> tuple[Any, float, int]:
    """What ``action()`` returns, in how many seconds, with how many bytes at the peak of
    what Python allocated meanwhile (every thread: the archive is read on a worker)."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        started = time.monotonic()
        result = action()
        elapsed = time.monotonic() - started
        return result, elapsed, tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


@pytest.mark.heavy  # 100,000 members
def test_a_hundred_thousand_tiny_members_are_refused_in_bounded_time_and_memory(
    client: TestClient, tmp_path: Path
) -> None:
    data = archive(b"".join(tiny_members(100_000)))
    state, seconds, peak = measured(lambda: onboard(client, data))
    assert state["status"] == "failure", state
    assert f"more than {MAX_MEMBERS} files" in state["errors"][0]["text"]
    assert seconds < 30 and peak < MEMORY_BOUND, (seconds, peak)
    assert nothing_kept(client, tmp_path)


@pytest.mark.heavy  # a bomb inflated to its bound
def test_a_gzip_bomb_is_refused_in_bounded_memory(client: TestClient, tmp_path: Path) -> None:
    bomb = gzip_bomb(256 * MiB)  # inflates 256 MiB, four times the cap
    state, seconds, peak = measured(lambda: onboard(client, bomb))
    (error,) = state["errors"]
    assert error["name"] == "onboard-too-large" and "package_inflate_ratio" in error["text"]
    assert seconds < 30 and peak < MEMORY_BOUND, (seconds, peak)
    assert nothing_kept(client, tmp_path)


@pytest.mark.heavy  # a bomb inflated to its bound
def test_a_gzip_bomb_at_the_default_bounds_is_refused_before_a_gib_is_written(
    tmp_path: Path,
) -> None:
    """10 GiB of zeros in ten files of a valid package, gzipped as they are sent (10 MiB
    in all): refused once inflated past package_inflate_allowance, at 1,000 times what
    was sent; at most the allowance reached the store, and none of it was kept."""
    with onboarding(tmp_path) as (client, store):
        started = time.monotonic()
        state, received = onboard_streamed(client, lambda: gzipped(zero_members(10, GiB)))
        seconds = time.monotonic() - started
        (error,) = state["errors"]
        assert error["name"] == "onboard-too-large", error
        assert "package_inflate_ratio (100)" in error["text"]
        assert "package_inflate_allowance (67108864 bytes)" in error["text"]
        assert store.given <= 64 * MiB and received < MiB, (store.given, received)
        assert seconds < 30
        assert nothing_kept(client, tmp_path)


def test_gigabytes_of_zeros_or_noise_are_refused_at_the_first_block(tmp_path: Path) -> None:
    """10 GiB of raw zeros, the same gzipped, and 10 GiB of noise: no tar, refused at the
    first block, before the store is given any of it."""
    noise = os.urandom(MiB)
    with onboarding(tmp_path) as (client, store):
        for pieces, says in [
            (lambda: zeros(10 * GiB), "not a tar archive: it begins with zeros"),
            (lambda: gzipped(zeros(10 * GiB)), "not a tar archive: it begins with zeros"),
            (lambda: (noise for _ in range(10 * 1024)), "its first block is no tar header"),
        ]:
            state, received = onboard_streamed(client, pieces)
            (error,) = state["errors"]
            assert error["name"] == "onboard-unreadable-package" and says in error["text"]
            assert received < 4 * MiB and store.given == 0, (received, store.given)
        assert nothing_kept(client, tmp_path)


def test_a_header_without_the_ustar_magic_is_refused(client: TestClient, tmp_path: Path) -> None:
    block = bytearray(member("pkg/pkg.yaml", data=DESCRIPTOR)[:BLOCK])
    block[257:265] = bytes(8)  # the magic and version of a pre-POSIX tar
    block[148:156] = b" " * 8
    block[148:155] = b"%06o\0" % sum(block)
    raw = bytes(block) + DESCRIPTOR + bytes(-len(DESCRIPTOR) % BLOCK + 2 * BLOCK)
    state = onboard(client, raw)
    assert "lacks the ustar magic" in state["errors"][0]["text"], state
    assert nothing_kept(client, tmp_path)


def spoiled_header(block: bytes, start: int, value: bytes) -> bytes:
    """A header block with a field changed and its checksum made right again."""
    changed = bytearray(block)
    changed[start : start + len(value)] = value
    changed[148:156] = b" " * 8
    changed[148:155] = b"%06o\0" % sum(changed)
    return bytes(changed)


def test_a_header_tarfile_cannot_read_does_not_hide_what_follows(
    client: TestClient, tmp_path: Path
) -> None:
    """tarfile takes a header it cannot read (here, a device number that is no number)
    for the archive's end: the member behind it went unchecked, yet was stored."""
    unreadable = spoiled_header(member("pkg/odd", data=b"")[:BLOCK], 329, b"zz\0")
    state = onboard(client, archive(unreadable, member("pkg/../../evil", data=b"x")))
    assert state["status"] == "failure" and "unreadable" in state["errors"][0]["text"], state
    assert nothing_kept(client, tmp_path)


def test_what_follows_the_end_of_the_archive(client: TestClient, tmp_path: Path) -> None:
    """Zeros padding the archive (tar pads its records, 10 KiB by default) are kept, so
    that the stored archive is the one sent; anything else after the end-of-archive
    blocks, or more than TRAILER_MAX zeros, is refused; so is an archive cut short."""
    padded = tar() + bytes(TRAILER_MAX - BLOCK)
    state = onboard(client, gzip.compress(padded))
    assert state["status"] == "success", state
    assert client.get(f"/api/export/{state['package_id']}").content == padded
    assert client.delete(f"/v2/images/{state['package_id']}").status_code == 204
    for data, says in [
        (gzip.compress(tar() + b"hidden"), f"data follows the end of the tar archive (at byte "
         f"{len(tar())}, after the end-of-archive block at byte {len(tar()) - 2 * BLOCK})"),
        (gzip.compress(tar()) + gzip.compress(b"\0" * 10 + member("pkg/x", data=b"x")),
         "data follows the end"),
        (tar() + bytes(TRAILER_MAX), f"more than {TRAILER_MAX} zero bytes follow"),
        (gzip.compress(tar()) + bytes(TRAILER_MAX + 1), f"more than {TRAILER_MAX} zero bytes"),
        (tar()[: -2 * BLOCK], "cut short"),
        (tar(member("pkg/data", data=bytes(3 * BLOCK)))[: -4 * BLOCK], "cut short"),
        (b"", "empty"),
    ]:  # fmt: skip
        state = onboard(client, data)
        assert state["status"] == "failure" and says in state["errors"][0]["text"], state
    assert nothing_kept(client, tmp_path)


def test_reading_stops_at_what_follows_the_end(tmp_path: Path) -> None:
    """A package followed by 10 GiB that is not padding: refused at its first byte."""
    with onboarding(tmp_path) as (client, store):
        noise = os.urandom(MiB)
        state, received = onboard_streamed(
            client, lambda: [tar(), *(noise for _ in range(10 * 1024))]
        )
        assert "data follows the end" in state["errors"][0]["text"], state
        assert received < 4 * MiB and store.given < 4 * MiB, (received, store.given)
        assert nothing_kept(client, tmp_path)


def test_the_size_cap(tmp_path: Path) -> None:
    """package_size_cap bounds the package, inflated or not: a file that says it is
    larger is refused at its header, more files at the byte that passes the cap."""
    with onboarding(tmp_path, package_size_cap=MiB) as (client, store):
        big = info_of("pkg/big.bin", 2 * MiB)
        state, received = onboard_streamed(client, lambda: [tar(big), *zeros(64 * MiB)])
        (error,) = state["errors"]
        assert error["name"] == "onboard-too-large", error
        assert error["text"] == (
            "pkg/big.bin holds 2097152 bytes: more than package_size_cap (1048576 bytes)"
        )
        assert store.given == 0 and received < 4 * MiB
        halves = [member(f"pkg/half{n}", data=os.urandom(MiB // 2)) for n in range(3)]
        for data in (archive(*halves), tar(*halves)):
            (error,) = onboard(client, data)["errors"]
            assert error["name"] == "onboard-too-large", error
            assert "larger than package_size_cap (1048576 bytes) once inflated" in error["text"]
        assert store.given <= 4 * MiB
        assert onboard(client, archive(halves[0]))["status"] == "success"


def info_of(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.PAX_FORMAT)


def test_the_inflate_ratio(tmp_path: Path) -> None:
    """Past package_inflate_allowance, a package may inflate to package_inflate_ratio
    times what was sent: text that compresses well passes; zeros do not."""
    with onboarding(tmp_path, package_inflate_allowance=MiB, package_inflate_ratio=20) as (
        client,
        store,
    ):
        text = b"".join(b"%d: a line of a log, as packages hold\n" % n for n in range(100_000))
        assert 5 < len(text) / len(gzip.compress(text)) < 20  # what real text does
        assert onboard(client, archive(member("pkg/log.txt", data=text)))["status"] == "success"
        before = store.given
        state, _ = onboard_streamed(client, lambda: gzipped(zero_members(1, GiB)))
        (error,) = state["errors"]
        assert error["name"] == "onboard-too-large"
        assert "more than package_inflate_ratio (20) times the data sent" in error["text"]
        assert "past package_inflate_allowance (1048576 bytes)" in error["text"]
        assert store.given - before <= 2 * MiB, store.given - before
        assert nothing_kept(client, tmp_path, but=1)


def test_real_packages_pass_at_the_defaults(tmp_path: Path) -> None:
    with onboarding(tmp_path) as (client, _):
        for data in (package(), package("raw", compressed=False), tarred_by_gnu_tar(tmp_path)):
            state = onboard(client, data)
            assert state["status"] == "success", state


def tarred_by_gnu_tar(tmp_path: Path) -> bytes:
    """A package as ``tar czf`` makes it (GNU tar pads its last 10 KiB record with zeros),
    or as tarfile does in GNU format where there is no tar."""
    root = tmp_path / "made" / "gnu_vnfd"
    (root / "cloud_init").mkdir(parents=True)
    (root / "gnu_vnfd.yaml").write_bytes(DESCRIPTOR.replace(b"pkg", b"gnu_vnfd"))
    (root / "cloud_init" / "init.cfg").write_bytes(b"#cloud-config\n")
    (root / ("long" * 40 + ".txt")).write_bytes(b"a name longer than 100 bytes")
    if shutil.which("tar"):
        command = ["tar", "czf", "-", "-C", str(root.parent), "gnu_vnfd"]
        return subprocess.run(command, check=True, capture_output=True, timeout=30).stdout
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as made:
        made.add(root, "gnu_vnfd")
    return buffer.getvalue()


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(b"") as server:
        yield server


def test_a_package_from_a_url_has_the_same_bounds(tmp_path: Path, origin: Origin) -> None:
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    with onboarding(
        tmp_path, package_inflate_allowance=MiB, package_inflate_ratio=20, fetch=fetch
    ) as (client, _):
        origin.data = b"".join(gzipped(zero_members(1, 64 * MiB)))
        answer = client.post("/api/package-create", json={"external_url": origin.url()})
        transaction = answer.json()["transaction_id"]
        for _ in range(400):
            state = client.get(f"/api/upload/{transaction}/state").json()
            if state["status"] != "pending":
                break
            time.sleep(0.05)
        assert state["status"] == "failure", state
        assert state["errors"][-1]["name"] == "onboard-too-large", state
        assert "package_inflate_ratio (20)" in state["errors"][-1]["text"]
        assert nothing_kept(client, tmp_path)
