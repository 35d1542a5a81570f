"""Hostile archives for OSM onboarding, beyond the bad packages of ``test_osm``: links
(hard and symbolic) and names that lead outside, devices, huge headers, 100,000 tiny
members, a gzip bomb. Each is refused, in bounded time and memory (traced in-process),
and leaves nothing behind: no artifact, no file in the store or beside it."""

from __future__ import annotations

import gzip
import tarfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.services.package_archive import MAX_MEMBERS
from tests.api.seeds import world_settings
from tests.osm_packages import gzip_bomb

MiB = 1024 * 1024
DESCRIPTOR = b"vnfd:vnfd-catalog:\n  vnfd:\n  - id: pkg\n    version: '1'\n"
# What onboarding one hostile archive may allocate at its peak (measured: 25 MiB for
# 100,000 members, 12 MiB for a bomb of 256 MiB; the bomb took 264 MiB before the fix).
MEMORY_BOUND = 40 * MiB


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # A cap large enough that 100,000 members meet the limit on members first.
    settings = world_settings(tmp_path / "inside" / "data", tmp_path / "catalogue.db", 64 * MiB)
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        identities = test_client.app.state.services.identities  # type: ignore[attr-defined]
        token = anyio.run(identities.create, "osm", "member").token
        test_client.headers.update({"x-auth-token": token})
        yield test_client


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), link
    padding = b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + padding


def archive(*members: bytes) -> bytes:
    """A tar of the package's descriptor and ``members``, gzipped."""
    body = member("pkg/pkg.yaml", data=DESCRIPTOR) + b"".join(members)
    return gzip.compress(body + b"\0" * (2 * tarfile.BLOCKSIZE), compresslevel=1)


def onboard(client: TestClient, data: bytes) -> dict[str, Any]:
    answer = client.post("/api/upload", files={"descriptor": ("pkg.tar.gz", data)})
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = client.get(
        f"/api/upload/{answer.json()['transaction_id']}/state"
    ).json()
    return state


def nothing_kept(client: TestClient, root: Path) -> bool:
    artifacts = client.get("/v2/images?os_hidden=true").json()["images"]
    files = [path for path in (root / "inside").rglob("*") if path.is_file()]
    return artifacts == [] and [path.name for path in files] == ["secret.key"]


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


def test_a_hundred_thousand_tiny_members_are_refused_in_bounded_time_and_memory(
    client: TestClient, tmp_path: Path
) -> None:
    data = archive(b"".join(tiny_members(100_000)))
    state, seconds, peak = measured(lambda: onboard(client, data))
    assert state["status"] == "failure", state
    assert f"more than {MAX_MEMBERS} files" in state["errors"][0]["text"]
    assert seconds < 30 and peak < MEMORY_BOUND, (seconds, peak)
    assert nothing_kept(client, tmp_path)


def test_a_gzip_bomb_is_refused_in_bounded_memory(client: TestClient, tmp_path: Path) -> None:
    bomb = gzip_bomb(256 * MiB)  # inflates 256 MiB, four times the cap
    state, seconds, peak = measured(lambda: onboard(client, bomb))
    assert state["status"] == "failure" and "larger than the limit" in state["errors"][0]["text"]
    assert seconds < 30 and peak < MEMORY_BOUND, (seconds, peak)
    assert nothing_kept(client, tmp_path)
