"""What /v2/info tells: a project's usage against its quotas (uploads under way and
staged bytes counted, unlimited), and the stores in detail for administrators, never
with a credential."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.db.engine import Database
from lading.errors import Forbidden, NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.info import Info, Measure, Usage
from lading.services.roles import ADMIN, MEMBER, READER
from lading.services.validation import Changes
from lading.settings import Settings

pytestmark = pytest.mark.anyio


async def test_usage_counts_the_projects_live_artifacts_against_its_limits(
    tmp_path: Path, database: Database, services: Services
) -> None:
    member = Caller.with_role("A", MEMBER)
    await services.catalogue.create(member, Changes({"name": "one"}))
    gone = await services.catalogue.create(member, Changes({"name": "gone"}))
    await services.catalogue.delete(member, gone.id)
    await services.catalogue.create(Caller.with_role("B", MEMBER), Changes({"name": "theirs"}))
    quota = {"artifacts": 5, "bytes": 1000, "projects": {"B": {"artifacts": 1}}}
    info = Info(Settings(data_dir=tmp_path, quota=quota), database)
    usage = await info.usage(Caller.with_role("A", READER))
    assert usage == Usage(Measure(0, 1000), Measure(1, 5), Measure(0, None), Measure(0, None))
    theirs = await info.usage(Caller.with_role("B", READER))
    assert theirs.image_count_total == Measure(1, 1)


async def test_stores_are_detailed_to_administrators_when_there_are_several(
    tmp_path: Path, database: Database
) -> None:
    stores = {
        "local": {"type": "filesystem", "description": "here"},
        "web": {"type": "http", "description": "there"},
    }
    settings = Settings(data_dir=tmp_path, stores=stores, default_store="local")
    info = Info(settings, database)
    admin = Caller.with_role("A", ADMIN)
    local, web = info.stores(admin)
    assert (local.id, local.type, local.default, local.read_only) == ("local", "file", True, False)
    assert local.properties == {"datadir": str(settings.store_path("local"))}
    assert (web.type, web.default, web.read_only, web.properties) == ("http", False, True, {})
    with pytest.raises(Forbidden):
        info.stores(Caller.with_role("A", MEMBER))
    with pytest.raises(NotFound, match="single store"):
        Info(Settings(data_dir=tmp_path), database).stores(admin)
