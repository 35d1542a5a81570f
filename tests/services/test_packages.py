"""Packages arrive whole: named by their PNDA file name (``<name>-<version><extension>``),
stored under it once, or replaced atomically by their own project unless protected or
the face is immutable; requests without a token let in only as ``pnda.anonymous`` says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lading.db import artifacts
from lading.db.engine import Database
from lading.domain import Status
from lading.errors import BadRequest, Conflict, Forbidden, NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.packages import parse_filename
from lading.services.roles import MEMBER
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
FILE = "tool-1.0.tgz"


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


def built(tmp_path: Path, database: Database, store: FaultyStore, **pnda: object) -> Services:
    settings = Settings(data_dir=tmp_path, pnda=pnda)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"))


@pytest.mark.parametrize(
    ("filename", "name", "version"),
    [("spark-batch-example-app-1.0.23.tar.gz", "spark-batch-example-app", "1.0.23"),
     ("app-2.0.0-rc1.zip", "app", "2.0.0-rc1"), ("python3-tool-0.1.jar", "python3-tool", "0.1"),
     ("a-1", "a", "1"), ("ping_vnfd-1.0.tar", "ping_vnfd", "1.0")],
)  # fmt: skip
def test_file_names_give_name_and_version(filename: str, name: str, version: str) -> None:
    package = parse_filename(filename)
    assert (package.name, package.version, package.filename) == (name, version, filename)


@pytest.mark.parametrize("filename", ["tool.tgz", "tool-v1.tgz", "-1.0.tgz", "a/b-1.0.tgz", ".."])
def test_file_names_that_name_no_package_are_refused(filename: str) -> None:
    with pytest.raises(BadRequest):
        parse_filename(filename)


async def test_a_file_is_replaced_by_its_own_project_only(
    services: Services, database: Database
) -> None:
    first = await services.packages.put_file(OWNER, FILE, data(b"one"))
    second = await services.packages.put_file(OWNER, FILE, data(b"two"))
    assert (second.name, second.version, second.filename) == ("tool", "1.0", FILE)
    assert database.run(False, artifacts.status_of, first.id) is Status.DELETED
    assert (await services.packages.find_file(OWNER, FILE)).id == second.id
    with pytest.raises(Forbidden):  # another project's file, even unseen, is not replaced
        await services.packages.put_file(Caller.with_role("B", MEMBER), FILE, data(b"three"))
    assert (await services.packages.find_file(OWNER, FILE)).id == second.id
    with pytest.raises(NotFound):
        await services.packages.find_file(OWNER, "tool-2.0.tgz")


async def test_a_protected_package_is_not_replaced(services: Services) -> None:
    package = await services.packages.put_file(OWNER, FILE, data(b"one"))
    await services.catalogue.update(OWNER, package.id, lambda _: Changes({"protected": True}))
    with pytest.raises(Forbidden, match="protected"):
        await services.packages.put_file(OWNER, FILE, data(b"two"))


async def test_an_immutable_face_never_reuses_a_file_name(
    tmp_path: Path, database: Database, store: FaultyStore
) -> None:
    services = built(tmp_path, database, store, immutable=True)
    assert not services.packages.replaces_files
    package = await services.packages.put_file(OWNER, FILE, data(b"one"))
    with pytest.raises(Conflict, match="does not replace files"):
        await services.packages.put_file(OWNER, FILE, data(b"two"))
    await services.catalogue.delete(OWNER, package.id)
    with pytest.raises(Conflict):  # its URLs served those bytes: the name stays taken
        await services.packages.put_file(OWNER, FILE, data(b"two"))


async def test_requests_without_a_token_get_only_what_the_setting_allows(
    tmp_path: Path, database: Database, store: FaultyStore
) -> None:
    closed = built(tmp_path, database, store)
    assert closed.packages.anonymous(write=False) is None
    reading = built(tmp_path, database, store, anonymous="read", anonymous_project="pnda")
    reader = reading.packages.anonymous(write=False)
    assert reader is not None and reader.project == "pnda" and not reader.is_admin
    assert reading.packages.anonymous(write=True) is None
    writing = built(tmp_path, database, store, anonymous="write")
    assert writing.packages.anonymous(write=True) is not None


async def test_the_newest_versions_are_those_the_caller_may_see(services: Services) -> None:
    for version in ("1.9", "1.10", "1.2"):
        await services.packages.put_file(OWNER, f"tool-{version}.tgz", data(b"x"))
    newest = await services.packages.newest(OWNER, 2)
    assert [file.version for file in newest] == ["1.10", "1.9"]
    assert await services.packages.newest(Caller.with_role("B", MEMBER), 2) == []
