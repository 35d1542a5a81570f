"""An image's locations as Glance's clients edit them, up to where a URL would be read:
changes only while shown (show_multiple_locations) and by the owner, a location given
in Glance's schema with validation data that agrees with the image, positions checked,
never the last one removed; the same locations given again with new metadata; v2.17's
API for services. (Locations read from real URLs: tests/api/test_locations.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lading.db.engine import Database
from lading.errors import BadRequest, Conflict, Forbidden
from lading.services import Services
from lading.services.access import Caller
from lading.services.locations import LocationChange
from lading.services.roles import ADMIN, MEMBER
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
SERVICE = replace(Caller.with_role("B", MEMBER), service_roles=frozenset({"service"}))
URL = "https://example.org/disk.img"


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


@pytest.fixture
def shown(tmp_path: Path, database: Database, store: FaultyStore) -> Services:
    settings = Settings(data_dir=tmp_path, show_multiple_locations=True)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"))


async def uploaded(services: Services) -> str:
    made = await services.catalogue.create(OWNER, Changes({"visibility": "community"}))
    return (await services.transfers.upload(OWNER, made.id, data(b"disk"))).id


def add(value: Any, index: str | None = "-") -> LocationChange:
    return LocationChange("add", index, value)


async def test_locations_are_changed_only_while_shown(services: Services) -> None:
    image = await uploaded(services)
    with pytest.raises(Forbidden, match="show_multiple_locations"):
        await services.locations.change(OWNER, image, add({"url": URL, "metadata": {}}))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (add("https://example.org/x"), BadRequest),  # not an object
        (add({"url": URL}), BadRequest),  # no metadata
        (add({"url": URL, "metadata": {}, "size": 3}), BadRequest),
        (add({"url": URL, "metadata": {}, "validation_data": {"md5": "x"}}), BadRequest),
        (add({"url": URL, "metadata": {}}, "7"), BadRequest),  # past the end
        (add({"url": URL, "metadata": {}}, "x"), BadRequest),
        (add({"url": URL, "metadata": {}, "validation_data": {  # not the image's digests
            "os_hash_algo": "sha512", "os_hash_value": "0" * 128}}), Conflict),
        (LocationChange("replace", None, {"url": URL}), BadRequest),  # not a list
        (LocationChange("replace", None, [{"url": URL, "metadata": {}}]), BadRequest),
    ],
)  # fmt: skip
async def test_a_change_is_checked_before_any_url_is_read(
    shown: Services, change: LocationChange, error: type[Exception]
) -> None:
    image = await uploaded(shown)
    with pytest.raises(error):
        await shown.locations.change(OWNER, image, change)
    assert len((await shown.catalogue.get(OWNER, image)).locations) == 1


async def test_only_the_owner_changes_locations(shown: Services) -> None:
    image = await uploaded(shown)
    with pytest.raises(Forbidden):
        await shown.locations.change(Caller.with_role("B", MEMBER), image, add({"url": URL}))
    remove = LocationChange("remove", "0", None)
    with pytest.raises(Forbidden, match="delete_image_location"):  # administrators only
        await shown.locations.change(OWNER, image, remove)
    admin = Caller.with_role("A", ADMIN)
    with pytest.raises(Forbidden, match="last location"):
        await shown.locations.change(admin, image, remove)
    queued = await shown.catalogue.create(OWNER, Changes())
    with pytest.raises(Conflict, match="while the image is queued"):
        await shown.locations.change(admin, queued.id, remove)


async def test_the_same_locations_given_again_take_new_metadata(
    shown: Services, store: FaultyStore
) -> None:
    image = await uploaded(shown)
    (location,) = (await shown.catalogue.get(OWNER, image)).locations
    url = store.location_url(location.key)
    given = [{"url": url, "metadata": {"rack": "7"}}]
    changed = await shown.locations.change(OWNER, image, LocationChange("replace", None, given))
    assert [place.metadata for place in changed.locations] == [{"rack": "7"}]


async def test_the_services_api_is_for_services_and_queued_images(
    services: Services, store: FaultyStore
) -> None:
    image = await uploaded(services)
    with pytest.raises(Forbidden):
        await services.locations.fetch(OWNER, image)
    (found,) = await services.locations.fetch(SERVICE, image)
    assert found.store == "default" and found.url.endswith(
        (await services.catalogue.get(OWNER, image)).locations[0].key
    )
    md5_vouched = {"os_hash_algo": "md5", "os_hash_value": "0"}
    for body in ("x", {"url": URL, "size": 1}, {"url": URL, "validation_data": {"x": 1}},
                 {"url": URL, "validation_data": md5_vouched}):  # fmt: skip
        with pytest.raises(BadRequest):
            await services.locations.add(SERVICE, image, body)
    with pytest.raises(Conflict, match="only to a queued image"):
        await services.locations.add(SERVICE, image, {"url": URL})
