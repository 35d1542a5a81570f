"""The images inside an OSM package: the files right inside its images/ directory, and
what a package's delete does with them (kept by default; asked to, deleted unless
protected, held by another live package, or not the caller's to delete)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lading.db import artifacts
from lading.db import packages as queries
from lading.db.engine import Database
from lading.domain import ArchiveMember, Status
from lading.services import Services
from lading.services.access import Caller
from lading.services.package_images import PackageImages, image_files
from lading.services.roles import MEMBER
from lading.services.validation import Changes
from tests.clock import MovableClock

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)


def test_image_files_are_those_right_inside_images() -> None:
    members = [ArchiveMember(path, kind, 1, 0) for path, kind in (
        ("p/images", "directory"), ("p/images/disk.qcow2", "file"),
        ("p/images/old/disk.img", "file"), ("p/images/link", "symlink"),
        ("p/other/images/x.img", "file"), ("images/top.img", "file"),
    )]  # fmt: skip
    assert [member.path for member in image_files(members, "p")] == ["p/images/disk.qcow2"]
    assert [member.path for member in image_files(members, "")] == ["images/top.img"]


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def made(services: Services, **fields: object) -> str:
    image = await services.catalogue.create(OWNER, Changes(dict(fields)))
    return (await services.transfers.upload(OWNER, image.id, data(b"disk"))).id


async def test_a_packages_delete_releases_its_images_as_asked(
    services: Services, database: Database, clock: MovableClock
) -> None:
    images = PackageImages(database, services.catalogue, services.transfers, clock)
    alone, shared, kept = await made(services), await made(services), await made(services)
    protected = await made(services, protected=True)
    package, other, third = await made(services), await made(services), await made(services)
    links = [("images/a", alone), ("images/s", shared), ("images/p", protected)]
    await database.write(queries.link_images, package, links)
    await database.write(queries.link_images, other, [("images/s", shared)])
    await database.write(queries.link_images, third, [("images/k", kept)])
    assert [path for path, _ in await images.linked(OWNER, package)] == [
        "images/a", "images/p", "images/s",
    ]  # fmt: skip
    released = await images.release(OWNER, package, delete=True)
    assert (released.deleted, sorted(released.kept)) == ([alone], sorted([shared, protected]))
    assert await database.read(artifacts.status_of, alone) is Status.DELETED
    assert await database.read(queries.linked_images, package) == []
    kept_anyway = await images.release(OWNER, third, delete=False)
    assert (kept_anyway.deleted, kept_anyway.kept) == ([], [kept])
    assert await database.read(artifacts.status_of, kept) is Status.ACTIVE
