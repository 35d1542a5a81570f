"""The real ``glance`` CLI (python-glanceclient) against a live lading, unchanged.

Every command runs as a subprocess with ``--os-image-url``/``--os-auth-token``, and its
effect is checked on the server over plain HTTP, not just by its exit code.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Lading
from tests.clients.support import (
    MiB,
    assert_active_with,
    create_image,
    get_image,
    random_bytes,
    run_glance,
    table_rows,
    unique,
)

pytestmark = pytest.mark.clients

Glance = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def glance_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME for the CLI, so its ~/.glanceclient schema cache belongs to this session."""
    return tmp_path_factory.mktemp("glance-home")


def succeed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"glance failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def property_table(output: str) -> dict[str, str]:
    """A ``Property | Value`` table as a dict; wrapped values are joined back."""
    header, *rows = table_rows(output)
    assert header == ["Property", "Value"], output
    table: dict[str, str] = {}
    last = ""
    for key, value in rows:
        if key:
            table[key], last = value, key
        else:
            table[last] += value
    return table


def listed_ids(output: str) -> list[str]:
    """The ID column of ``image-list``, in the order printed."""
    header, *rows = table_rows(output)
    assert header[:2] == ["ID", "Name"], output
    return [row[0] for row in rows]


@pytest.fixture
def glance(server_url: str, api_token: str, glance_home: Path) -> Glance:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_glance(server_url, api_token, glance_home, *args)

    return run


def test_wrong_token_is_refused(server_url: str, glance_home: Path, api: httpx.Client) -> None:
    """The server has tokens, so one it never issued gets 401, and the CLI says so."""
    image = create_image(api, unique("refused"))
    for command in (["image-list"], ["image-show", image["id"]]):
        result = run_glance(server_url, "not-a-real-token", glance_home, *command)
        assert result.returncode != 0, result.stdout
        # glanceclient words a 401 as "Invalid OpenStack Identity credentials."
        assert "Identity credentials" in result.stderr, result.stderr
        assert image["id"] not in result.stdout


def test_bootstrap_without_api_version(
    server_url: str, api_token: str, api: httpx.Client, tmp_path: Path
) -> None:
    """With no version pinned the CLI probes /versions and caches the schemas, staying on v2."""
    image = create_image(api, unique("boot"))
    result = run_glance(
        server_url, api_token, tmp_path, "image-show", image["id"], api_version=None
    )
    output = succeed(result)
    assert "falling back to v1" not in result.stderr
    assert property_table(output)["id"] == image["id"]
    cached = json.loads((tmp_path / ".glanceclient" / "image_schema.json").read_text())
    assert cached == api.get("/v2/schemas/image").json()
    # A second run uses the cache and still works.
    listing = succeed(run_glance(server_url, api_token, tmp_path, "image-list", api_version=None))
    assert image["id"] in listed_ids(listing)


def test_image_create_with_file(glance: Glance, api: httpx.Client, tmp_path: Path) -> None:
    data = random_bytes(3 * MiB + 123)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    name = unique("create")
    output = succeed(
        glance(
            "image-create",
            "--name",
            name,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--property",
            "k=v",
            "--file",
            str(source),
        )
    )
    shown = property_table(output)
    assert shown["name"] == name
    assert shown["status"] == "active"
    assert shown["k"] == "v"
    assert shown["size"] == str(len(data))
    image = get_image(api, shown["id"])
    assert_active_with(image, data)
    assert (image["name"], image["disk_format"], image["container_format"], image["k"]) == (
        name,
        "raw",
        "bare",
        "v",
    )
    assert shown["checksum"] == image["checksum"]
    assert shown["os_hash_value"] == image["os_hash_value"]
    assert api.get(f"/v2/images/{image['id']}/file").content == data


def test_image_list_filters(glance: Glance, api: httpx.Client) -> None:
    key, tag = unique("key"), unique("tag")
    both = create_image(api, unique("both"), **{key: "x"}, tags=[tag])
    only_tag = create_image(api, unique("tag-only"), **{key: "y"}, tags=[tag])
    only_prop = create_image(api, unique("prop-only"), **{key: "x"})

    by_prop = listed_ids(succeed(glance("image-list", "--property-filter", f"{key}=x")))
    assert sorted(by_prop) == sorted([both["id"], only_prop["id"]])
    by_tag = listed_ids(succeed(glance("image-list", "--tag", tag)))
    assert sorted(by_tag) == sorted([both["id"], only_tag["id"]])
    by_both = listed_ids(
        succeed(glance("image-list", "--tag", tag, "--property-filter", f"{key}=x"))
    )
    assert by_both == [both["id"]]
    assert listed_ids(succeed(glance("image-list", "--property-filter", f"{key}=z"))) == []


def test_image_list_follows_pages(glance: Glance, api: httpx.Client) -> None:
    """Five images with two per page: the CLI follows ``next`` to the end, in name order."""
    key = unique("paged")
    images = [create_image(api, f"{key}-{n}", **{key: "yes"}) for n in (3, 0, 4, 1, 2)]
    by_name = [image["id"] for image in sorted(images, key=lambda image: image["name"])]

    output = succeed(glance("image-list", "--page-size", "2", "--property-filter", f"{key}=yes"))
    assert listed_ids(output) == by_name
    everything = listed_ids(succeed(glance("image-list", "--page-size", "2")))
    assert len(everything) == len(set(everything))
    assert set(by_name) <= set(everything)


def test_image_show(glance: Glance, api: httpx.Client) -> None:
    data = random_bytes(4096)
    image = create_image(api, unique("show"), data, os_distro="debian", min_ram=64)
    shown = property_table(succeed(glance("image-show", image["id"])))
    for key in ("id", "name", "status", "checksum", "os_hash_algo", "os_hash_value", "os_distro"):
        assert shown[key] == image[key], key
    assert shown["size"] == str(len(data))
    assert shown["min_ram"] == "64"

    missing_id = "00000000-0000-0000-0000-000000000000"
    missing = glance("image-show", missing_id)
    assert missing.returncode == 1
    assert missing_id in missing.stderr


def test_image_update_properties(glance: Glance, api: httpx.Client) -> None:
    image = create_image(api, unique("update"), keep="me", old="gone-soon")
    new_name = unique("renamed")
    succeed(glance("image-update", image["id"], "--name", new_name, "--property", "a=b"))
    updated = get_image(api, image["id"])
    assert (updated["name"], updated["a"], updated["keep"], updated["old"]) == (
        new_name,
        "b",
        "me",
        "gone-soon",
    )

    succeed(
        glance("image-update", image["id"], "--remove-property", "a", "--remove-property", "old")
    )
    updated = get_image(api, image["id"])
    assert "a" not in updated and "old" not in updated
    assert updated["keep"] == "me"
    assert updated["name"] == new_name


def test_image_tag_update(glance: Glance, api: httpx.Client) -> None:
    image = create_image(api, unique("tags"), tags=["first"])
    tag = unique("tag")
    succeed(glance("image-tag-update", image["id"], tag))
    assert sorted(get_image(api, image["id"])["tags"]) == sorted(["first", tag])
    # Adding it again changes nothing.
    succeed(glance("image-tag-update", image["id"], tag))
    assert sorted(get_image(api, image["id"])["tags"]) == sorted(["first", tag])
    succeed(glance("image-tag-delete", image["id"], "first"))
    assert get_image(api, image["id"])["tags"] == [tag]


def test_image_download(glance: Glance, api: httpx.Client, tmp_path: Path) -> None:
    data = random_bytes(2 * MiB + 7)
    image = create_image(api, unique("download"), data)
    target = tmp_path / "out.raw"
    succeed(glance("image-download", "--file", str(target), image["id"]))
    assert target.read_bytes() == data


def test_image_download_without_data(glance: Glance, api: httpx.Client, tmp_path: Path) -> None:
    image = create_image(api, unique("empty"))
    result = glance("image-download", "--file", str(tmp_path / "out"), image["id"])
    assert result.returncode != 0
    assert "has no data" in result.stderr


def test_image_delete(glance: Glance, api: httpx.Client) -> None:
    image = create_image(api, unique("delete"), random_bytes(1000))
    succeed(glance("image-delete", image["id"]))
    assert api.get(f"/v2/images/{image['id']}").status_code == 404
    again = glance("image-delete", image["id"])
    assert again.returncode != 0
    assert image["id"] in again.stderr


def test_image_deactivate_and_reactivate(glance: Glance, api: httpx.Client) -> None:
    data = random_bytes(5000)
    image = create_image(api, unique("deactivate"), data)
    succeed(glance("image-deactivate", image["id"]))
    assert get_image(api, image["id"])["status"] == "deactivated"
    succeed(glance("image-reactivate", image["id"]))
    reactivated = get_image(api, image["id"])
    assert_active_with(reactivated, data)


def test_uploads_to_a_chosen_store(multistore: Lading, glance_home: Path, tmp_path: Path) -> None:
    """With several stores: store discovery, and `--store` on image-create."""
    stores = succeed(run_glance(multistore.url, multistore.token, glance_home, "stores-info"))
    assert '"id": "fast"' in stores and '"id": "bulk"' in stores
    source = tmp_path / "image.raw"
    source.write_bytes(random_bytes(100_000))
    create = ["image-create", "--name", unique("stored"), "--disk-format", "raw",
              "--container-format", "bare", "--store", "bulk", "--file", str(source)]  # fmt: skip
    output = succeed(run_glance(multistore.url, multistore.token, glance_home, *create))
    shown = {row[0]: row[1] for row in table_rows(output)[1:] if len(row) == 2}
    assert shown["status"] == "active" and shown["stores"] == "bulk"
