"""The rules beyond visibility: property protections, core fields of artifacts with data,
and quotas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from lading.stores.http import HttpStore
from lading.stores.s3 import S3Store
from lading.stores.swift import SwiftStore
from tests.api.helpers import PATCH_TYPE, assert_error, check_image
from tests.disk_images import qcow2_header
from tests.portal import call

PROTECTIONS = """
[^x_secret_]
create = admin
read = admin
update = admin
delete = admin

[^x_audit_]
create = admin
read = member
update = admin
delete = !

[.*]
create = member
read = @
update = member
delete = member
"""


class Api:
    """One app, with a token per (project, role) asked for."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._tokens: dict[tuple[str, str], str] = {}

    def __call__(self, who: tuple[str, str], method: str, path: str, **kwargs: Any) -> Any:
        if who not in self._tokens:
            identities = self.client.app.state.services.identities  # type: ignore[attr-defined]
            self._tokens[who] = call(self.client, identities.create, *who).token
        headers = {"x-auth-token": self._tokens[who], **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def create(self, who: tuple[str, str], **fields: Any) -> dict[str, Any]:
        body = {"disk_format": "raw", "container_format": "bare", **fields}
        response = self(who, "POST", "/v2/images", json=body)
        assert response.status_code == 201, response.text
        image: dict[str, Any] = response.json()
        return image

    def patch(self, who: tuple[str, str], image_id: str, *operations: dict[str, Any]) -> Any:
        headers = {"content-type": PATCH_TYPE}
        return self(who, "PATCH", f"/v2/images/{image_id}", json=list(operations), headers=headers)

    def upload(self, who: tuple[str, str], image_id: str, data: Any, **headers: str) -> Any:
        headers = {"content-type": "application/octet-stream", **headers}
        return self(who, "PUT", f"/v2/images/{image_id}/file", content=data, headers=headers)

    def show(self, who: tuple[str, str], image_id: str) -> dict[str, Any]:
        response = self(who, "GET", f"/v2/images/{image_id}")
        assert response.status_code == 200, response.text
        image: dict[str, Any] = response.json()
        return image


ADMIN, MEMBER, READER = ("A", "admin"), ("A", "member"), ("A", "reader")


def running(settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield Api(client)


@pytest.fixture
def protected(tmp_path: Path, database_url: str) -> Iterator[Api]:
    rules = tmp_path / "protections.conf"
    rules.write_text(PROTECTIONS)
    yield from running(
        Settings(
            data_dir=tmp_path / "data", database_url=database_url, property_protection_file=rules
        )
    )


def test_unreadable_properties_are_hidden_not_erased(protected: Api) -> None:
    image = protected.create(ADMIN, x_secret_key="s", x_audit_by="ops", note="n")
    assert image["x_secret_key"] == "s"
    seen = protected.show(MEMBER, image["id"])
    assert "x_secret_key" not in seen and seen["x_audit_by"] == "ops" and seen["note"] == "n"
    assert "x_audit_by" not in protected.show(READER, image["id"])
    renamed = protected.patch(MEMBER, image["id"], {"op": "remove", "path": "/note"})
    assert renamed.status_code == 200, renamed.text
    assert "x_secret_key" not in renamed.json()
    after = protected.show(ADMIN, image["id"])
    assert after["x_secret_key"] == "s" and after["x_audit_by"] == "ops" and "note" not in after


def test_writing_an_unreadable_property_is_refused_whether_or_not_it_exists(
    protected: Api,
) -> None:
    image = protected.create(ADMIN, x_secret_key="s")
    before = protected.show(ADMIN, image["id"])
    for value in ("s", "guess"):  # the right value answers as a wrong one: nothing to learn
        for path in ("/x_secret_key", "/x_secret_other"):
            response = protected.patch(
                MEMBER, image["id"], {"op": "add", "path": path, "value": value}
            )
            assert_error(response, 403)
            assert "protected" in response.text
    assert protected.show(ADMIN, image["id"]) == before


def test_create_update_delete_rules(protected: Api) -> None:
    refused = protected(MEMBER, "POST", "/v2/images", json={"x_audit_by": "me"})
    assert_error(refused, 403)
    image = protected.create(ADMIN, x_audit_by="ops")
    replace = {"op": "replace", "path": "/x_audit_by", "value": "me"}
    assert_error(protected.patch(MEMBER, image["id"], replace), 403)
    remove = {"op": "remove", "path": "/x_audit_by"}
    assert_error(protected.patch(MEMBER, image["id"], remove), 403)
    assert_error(protected.patch(ADMIN, image["id"], remove), 403)  # delete = ! : nobody
    assert protected.patch(ADMIN, image["id"], replace).status_code == 200
    assert protected.show(MEMBER, image["id"])["x_audit_by"] == "me"


def test_listing_hides_and_cannot_filter_on_unreadable_properties(protected: Api) -> None:
    image = protected.create(ADMIN, x_secret_key="needle")
    as_admin = protected(ADMIN, "GET", "/v2/images", params={"x_secret_key": "needle"})
    assert [found["id"] for found in as_admin.json()["images"]] == [image["id"]]
    as_member = protected(MEMBER, "GET", "/v2/images", params={"x_secret_key": "needle"})
    assert as_member.json()["images"] == []
    listed = protected(MEMBER, "GET", "/v2/images").json()["images"]
    assert [found for found in listed if "x_secret_key" in found] == []


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from running(settings)


def test_core_fields_of_artifacts_with_data_are_for_admins(api: Api) -> None:
    image = api.create(MEMBER, version="1.0")
    change = {"op": "replace", "path": "/disk_format", "value": "qcow2"}
    assert api.patch(MEMBER, image["id"], change).status_code == 200  # queued: anyone may
    assert api.upload(MEMBER, image["id"], qcow2_header()).status_code == 204
    before = api.show(ADMIN, image["id"])
    for path, value in [("/disk_format", "raw"), ("/container_format", "ovf"), ("/version", "2")]:
        response = api.patch(MEMBER, image["id"], {"op": "replace", "path": path, "value": value})
        assert_error(response, 403)
    assert api.show(ADMIN, image["id"]) == before
    renamed = api.patch(MEMBER, image["id"], {"op": "replace", "path": "/name", "value": "n"})
    assert renamed.status_code == 200
    by_admin = api.patch(
        ADMIN, image["id"], {"op": "replace", "path": "/disk_format", "value": "raw"}
    )
    assert by_admin.status_code == 200 and by_admin.json()["disk_format"] == "raw"


@pytest.fixture
def quotas(tmp_path: Path, database_url: str) -> Iterator[Api]:
    quota = {"artifacts": 2, "bytes": 100, "properties": 3, "tags": 2,
             "projects": {"big": {"artifacts": 3}, "many": {"bytes": 100}}}  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, quota=quota)
    yield from running(settings)


def test_artifact_count_quota(quotas: Api) -> None:
    first = quotas.create(MEMBER)
    quotas.create(MEMBER)
    response = quotas(MEMBER, "POST", "/v2/images", json={"name": "third"})
    assert_error(response, 413)
    assert "quota" in response.text
    assert len(quotas(ADMIN, "GET", "/v2/images").json()["images"]) == 2
    for _ in range(3):  # its own limit
        quotas.create(("big", "member"))
    assert quotas(MEMBER, "DELETE", f"/v2/images/{first['id']}").status_code == 204
    quotas.create(MEMBER)  # deleted artifacts do not count


def test_byte_quota(quotas: Api) -> None:
    member, admin = ("many", "member"), ("many", "admin")
    first, second, third = (quotas.create(member) for _ in range(3))
    assert quotas.upload(member, first["id"], b"x" * 60).status_code == 204
    assert_error(quotas.upload(member, second["id"], b"y" * 60), 413)  # announced

    def chunks() -> Iterator[bytes]:  # no length announced: cut off on the way
        yield b"y" * 30
        yield b"y" * 30

    assert_error(quotas.upload(member, second["id"], chunks()), 413)
    assert quotas.show(member, second["id"])["status"] == "queued"
    assert quotas.upload(member, second["id"], b"y" * 40).status_code == 204
    full = quotas.upload(admin, third["id"], b"z")  # an admin's bytes count for the owner
    assert_error(full, 413)
    assert "quota of 100 bytes" in full.text
    assert quotas(member, "DELETE", f"/v2/images/{first['id']}").status_code == 204
    assert quotas.upload(member, third["id"], b"z" * 60).status_code == 204
    unlimited = quotas.create(("big", "member"))
    assert quotas.upload(("big", "member"), unlimited["id"], b"w" * 1000).status_code == 204


def test_property_and_tag_quotas(quotas: Api) -> None:
    refused = quotas(MEMBER, "POST", "/v2/images", json={"a": "1", "b": "2", "c": "3", "d": "4"})
    assert_error(refused, 413)
    image = quotas.create(MEMBER, a="1", b="2", c="3", tags=["t1", "t2"])
    adding = quotas.patch(MEMBER, image["id"], {"op": "add", "path": "/d", "value": "4"})
    assert_error(adding, 413)
    assert_error(quotas(MEMBER, "PUT", f"/v2/images/{image['id']}/tags/t3"), 413)
    assert quotas(MEMBER, "PUT", f"/v2/images/{image['id']}/tags/t2").status_code == 204
    assert quotas.show(MEMBER, image["id"])["tags"] == ["t1", "t2"]


def test_quota_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        Settings(quota={"bytes": -1})


@pytest.fixture
def showing(tmp_path: Path, database_url: str) -> Iterator[Api]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        show_image_direct_url=True,
        show_multiple_locations=True,
    )
    yield from running(settings)


def test_locations_are_hidden_by_default(api: Api) -> None:
    image = api.create(ADMIN)
    assert api.upload(ADMIN, image["id"], b"data").status_code == 204
    shown = api.show(ADMIN, image["id"])
    assert "direct_url" not in shown and "locations" not in shown


def test_locations_shown_only_to_whom_the_policy_allows(showing: Api) -> None:
    image = showing.create(MEMBER)
    assert showing.upload(MEMBER, image["id"], b"data").status_code == 204
    shown = showing.show(ADMIN, image["id"])
    check_image(showing.client, shown)
    assert shown["direct_url"].startswith("file:///") and shown["direct_url"].endswith(
        shown["locations"][0]["url"].rpartition("/")[2]
    )
    assert shown["locations"] == [{"url": shown["direct_url"], "metadata": {}}]
    listed = showing(ADMIN, "GET", "/v2/images").json()["images"]
    assert listed[0]["direct_url"] == shown["direct_url"]
    # Glance's get_image_location: the owner's project (reader and up) and admins.
    assert showing.show(READER, image["id"])["locations"] == shown["locations"]
    public = {"op": "replace", "path": "/visibility", "value": "public"}
    assert showing.patch(ADMIN, image["id"], public).status_code == 200
    as_other = showing.show(("B", "member"), image["id"])
    assert as_other["locations"] == [] and "direct_url" not in as_other


def test_location_urls_never_carry_credentials(tmp_path: Path) -> None:
    http = HttpStore("web", chunk_size=4096, client=httpx.AsyncClient())
    assert http.location_url("https://user:secret@example.test/a.img?x=1") == (
        "https://example.test/a.img?x=1"
    )
    s3 = S3Store(
        "s3", endpoint_url="http://127.0.0.1:1", region="r", bucket="b", prefix="p",
        access_key="AKIA", secret_key="SECRET", path_style=True, part_size=5 * 2**20,
        chunk_size=4096,
    )  # fmt: skip
    assert s3.location_url("ab/cd") == "s3://b/p/ab/cd"
    swift = SwiftStore(
        "swift", auth_url="http://127.0.0.1:1/auth/v1.0", user="u:u", key="SECRET",
        container="c", prefix="", segment_size=2**20, chunk_size=4096, timeout=1.0,
    )  # fmt: skip
    assert swift.location_url("ab/cd") == "swift://c/ab/cd"
