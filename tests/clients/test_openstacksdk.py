"""openstacksdk's image proxy against a live lading, with a token and no Keystone to issue it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack.connection import Connection
from openstack.exceptions import HttpException, NotFoundException
from openstack.image.v2.image import Image

from tests.clients.support import (
    MiB,
    assert_active_with,
    create_image,
    get_image,
    images,
    random_bytes,
    settled,
    unique,
)

pytestmark = [
    pytest.mark.clients,
    # openstacksdk 4.22 announces its own upcoming API removals from inside its code, whatever
    # the caller does: every Resource it builds calls the deprecated _compute_attributes
    # (RemovedInSDK50Warning); every connect() sees its empty InfluxDB settings as configured,
    # and create_image() calls find_image() with the deprecated ignore_missing=True default
    # (RemovedInSDK60Warning). None of it depends on the server.
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


def connect(server_url: str, token: str) -> Connection:
    """A connection sending ``token`` as X-Auth-Token to lading, with no Keystone to ask."""
    return openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="admin_token",
        auth={"token": token, "endpoint": server_url},
        image_endpoint_override=server_url,
    )


@pytest.fixture(scope="module")
def conn(server_url: str, api_token: str) -> Iterator[Connection]:
    connection = connect(server_url, api_token)
    yield connection
    connection.close()


def create_from_bytes(
    conn: Connection, name: str, data: bytes, tags: Sequence[str] = (), **properties: Any
) -> Image:
    image: Image = images(conn).create_image(
        name,
        data=data,
        disk_format="raw",
        container_format="bare",
        tags=list(tags),
        **properties,
    )
    return image


def create_from_file(conn: Connection, name: str, source: Path, **fields: Any) -> Image:
    image: Image = images(conn).create_image(
        name,
        filename=str(source),
        disk_format="raw",
        container_format="bare",
        validate_checksum=True,
        **fields,
    )
    if image.data is not None:  # the SDK opened ``filename`` and left the file on the image
        image.data.close()
    return image


def test_create_image_from_file(conn: Connection, api: httpx.Client, tmp_path: Path) -> None:
    data = random_bytes(3 * MiB + 17)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    name = unique("sdk-file")
    image = create_from_file(conn, name, source, tags=["sdk"], os_distro="debian", min_ram=128)
    assert image.id and image.name == name
    fetched = images(conn).get_image(image.id)
    assert fetched.status == "active"
    assert (fetched.size, fetched.checksum) == (len(data), hashlib.md5(data).hexdigest())
    assert fetched.tags == ["sdk"]
    assert fetched.min_ram == 128
    assert fetched.os_distro == "debian"
    served = get_image(api, image.id)
    assert_active_with(served, data)
    assert served["os_distro"] == "debian"
    # validate_checksum=True: the SDK records its own digests as dotted properties.
    assert served["owner_specified.openstack.md5"] == hashlib.md5(data).hexdigest()
    assert served["owner_specified.openstack.sha256"] == hashlib.sha256(data).hexdigest()
    assert api.get(f"/v2/images/{image.id}/file").content == data

    # Same name, same digests: the SDK finds the image by name and uploads nothing.
    again = create_from_file(conn, name, source)
    assert again.id == image.id
    assert [found.id for found in images(conn).images(name=name)] == [image.id]


def test_create_image_from_bytes(conn: Connection, api: httpx.Client) -> None:
    data = random_bytes(100_000)
    image = create_from_bytes(conn, unique("sdk-bytes"), data, purpose="test")
    assert image.status == "queued"  # the SDK returns the image as of the POST
    served = get_image(api, image.id)
    assert_active_with(served, data)
    assert served["purpose"] == "test"
    assert images(conn).get_image(image.id).status == "active"


def test_images_across_pages(conn: Connection) -> None:
    tag = unique("sdk-page")
    made = {create_from_bytes(conn, f"{tag}-{n}", b"x" * n, [tag]).id for n in range(1, 6)}
    seen = [image.id for image in images(conn).images(tag=tag, limit=2)]
    assert len(seen) == len(set(seen)), "an image came back twice"
    assert set(seen) == made


def test_images_without_filter_sees_everything(conn: Connection, api: httpx.Client) -> None:
    prefix = unique("sdk-all")
    made = {create_from_bytes(conn, f"{prefix}-{n}", b"y").id for n in range(5)}
    seen = [image.id for image in images(conn).images(limit=2)]
    assert len(seen) == len(set(seen)), "an image came back twice"
    assert made <= set(seen)
    listed = api.get("/v2/images", params={"limit": 1000}).json()["images"]
    assert set(seen) == {image["id"] for image in listed}


def test_find_image(conn: Connection) -> None:
    name = unique("sdk-find")
    image = create_from_bytes(conn, name, b"find me")
    assert images(conn).find_image(name, ignore_missing=False).id == image.id
    assert images(conn).find_image(image.id, ignore_missing=False).name == name
    with pytest.raises(NotFoundException):
        images(conn).find_image(unique("sdk-nothing"), ignore_missing=False)


def test_download_image_to_file(conn: Connection, tmp_path: Path) -> None:
    data = random_bytes(2 * MiB + 3)
    image = create_from_bytes(conn, unique("sdk-download"), data)
    target = tmp_path / "out.raw"
    images(conn).download_image(image, output=str(target))  # verifies os_hash_value on the way
    assert target.read_bytes() == data


def test_download_image_to_memory(conn: Connection) -> None:
    data = random_bytes(50_000)
    image = create_from_bytes(conn, unique("sdk-memory"), data)
    response = images(conn).download_image(image)
    assert response.content == data


def test_update_image(conn: Connection, api: httpx.Client) -> None:
    image = create_from_bytes(conn, unique("sdk-update"), b"u" * 10, keep="me")
    new_name = unique("sdk-renamed")
    updated = images(conn).update_image(image, name=new_name, my_prop="y")
    assert updated.name == new_name
    assert updated.properties["my_prop"] == "y"
    served = get_image(api, image.id)
    assert (served["name"], served["my_prop"]) == (new_name, "y")
    fetched = images(conn).get_image(image.id)
    assert fetched.name == new_name and fetched.properties["my_prop"] == "y"

    images(conn).update_image(fetched, visibility="private", min_disk=2)
    served = get_image(api, image.id)
    assert (served["visibility"], served["min_disk"], served["my_prop"]) == ("private", 2, "y")


def test_delete_image(conn: Connection, api: httpx.Client) -> None:
    image = create_from_bytes(conn, unique("sdk-delete"), b"bye")
    images(conn).delete_image(image)
    with pytest.raises(NotFoundException):
        images(conn).get_image(image.id)
    assert api.get(f"/v2/images/{image.id}").status_code == 404
    images(conn).delete_image(image)  # a missing image is ignored by default
    with pytest.raises(NotFoundException):
        images(conn).delete_image(image, ignore_missing=False)


def test_wrong_token_is_refused(server_url: str, api: httpx.Client) -> None:
    image = create_image(api, unique("sdk-refused"))
    wrong = connect(server_url, "not-a-real-token")
    try:
        with pytest.raises(HttpException) as refused:
            wrong.image.get_image(image["id"])
        assert refused.value.status_code == 401
    finally:
        wrong.close()


def test_create_image_with_import(conn: Connection, api: httpx.Client, tmp_path: Path) -> None:
    """use_import=True stages the file and imports it with glance-direct."""
    data = random_bytes(1024 * 1024 + 1)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    with source.open("rb") as file:  # given a filename, openstacksdk leaves the file open
        image = images(conn).create_image(
            name=unique("sdk-import"), data=file, use_import=True,
            disk_format="raw", container_format="bare",
        )  # fmt: skip
    assert_active_with(settled(api, image.id), data)
