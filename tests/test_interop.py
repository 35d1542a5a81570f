"""make interop's own pieces: the skip list's form and reasons, lading's registration in
Keystone's catalogue (against the real Keystone), the qcow2 that web-download fetches."""

from __future__ import annotations

import importlib.util
import re
import struct
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from keystoneauth1 import session
from keystoneauth1.identity import v3

INTEROP = Path(__file__).resolve().parent.parent / "interop"
# The reasons a test may be left out for: another service. Nothing else.
KINDS = {"needs Nova"}


@pytest.fixture(scope="module")
def run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("interop_run", INTEROP / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_entry_of_the_skip_list_has_a_known_reason(run: ModuleType) -> None:
    entries = run.skip_list()
    assert entries
    for pattern, reason in entries:
        assert pattern.pattern.startswith(r"^tempest\.api\.image\."), pattern.pattern
        kind, _, detail = reason.partition(":")
        assert kind in KINDS, reason
        assert detail.strip(), f"{pattern.pattern}: no detail after {kind!r}"


def test_the_skip_list_leaves_out_only_what_it_names(run: ModuleType) -> None:
    skipped = [pattern for pattern, _ in run.skip_list()]

    def left_out(test: str) -> bool:
        return any(pattern.search(test) for pattern in skipped)

    ids = "[id-0f0e0d0c-0b0a-0908-0706-050403020100]"
    cache = "tempest.api.image.v2.admin.test_image_caching.ImageCachingTest"
    assert left_out(f"tempest.api.image.v2.test_images_dependency.Any.test_any{ids}")
    # The image cache is offered: its tests run, on both nodes.
    assert not left_out(f"{cache}.test_image_caching_cycle{ids}")
    assert not left_out(f"{cache}.test_remote_and_self_cache{ids}")
    # Locations set through PATCH are offered: their tests run.
    locations = "tempest.api.image.v2.test_images.ImageLocationsTest"
    assert not left_out(f"{locations}.test_set_location{ids}")
    assert not left_out(f"{locations}.test_set_location_bad_scheme{ids}")
    assert not left_out(
        f"tempest.api.image.v2.test_images.ListUserImagesTest.test_list_no_params{ids}"
    )
    assert not left_out(f"tempest.api.image.v2.test_versions.VersionsTest.test_list_versions{ids}")


def test_the_qcow2_for_web_download_has_a_qcow2_header(run: ModuleType) -> None:
    image = run.qcow2_image(64 * 1024 * 1024)
    magic, version, _, _, cluster_bits, size = struct.unpack_from(">4sIQIIQ", image)
    assert (magic, version, cluster_bits, size) == (b"QFI\xfb", 2, 16, 64 * 1024 * 1024)
    assert len(image) == 4 << cluster_bits


@pytest.fixture
def admin(keystone_url: str, run: ModuleType) -> session.Session:
    return session.Session(
        auth=v3.Password(
            auth_url=keystone_url,
            username=run.ADMIN_USER,
            password=run.ADMIN_PASSWORD,
            project_name=run.ADMIN_PROJECT,
            user_domain_name="Default",
            project_domain_name="Default",
        )
    )


@pytest.fixture
def service_type(admin: session.Session, keystone_url: str) -> Iterator[str]:
    """A service type of this test's own, so that the real image service is left alone."""
    name = f"image-test-{uuid.uuid4().hex[:8]}"
    yield name
    for service in admin.get(f"{keystone_url}/services", params={"type": name}).json()["services"]:
        admin.delete(f"{keystone_url}/services/{service['id']}")  # its endpoints go with it


def test_registering_twice_keeps_one_service_and_moves_its_endpoints(
    run: ModuleType, admin: session.Session, keystone_url: str, service_type: str
) -> None:
    first = run.register("http://127.0.0.1:1111", keystone_url, service_type)
    second = run.register("http://127.0.0.1:2222", keystone_url, service_type)
    assert first == second
    services = admin.get(f"{keystone_url}/services", params={"type": service_type}).json()
    assert [s["id"] for s in services["services"]] == [first]
    endpoints = admin.get(f"{keystone_url}/endpoints", params={"service_id": first}).json()
    found = sorted((e["interface"], e["region_id"], e["url"]) for e in endpoints["endpoints"])
    assert found == [
        (interface, "RegionOne", "http://127.0.0.1:2222")
        for interface in ("admin", "internal", "public")
    ]


def test_a_token_finds_lading_in_its_catalogue(
    run: ModuleType, keystone_url: str, service_type: str
) -> None:
    """What Tempest does: sign in, and take the image endpoint from the token's catalogue."""
    run.register("http://127.0.0.1:3333", keystone_url, service_type)
    member = session.Session(
        auth=v3.Password(
            auth_url=keystone_url,
            username="alpha-member",
            password="lading-test",
            project_name="alpha",
            user_domain_name="Default",
            project_domain_name="Default",
        )
    )
    url = member.get_endpoint(
        service_type=service_type, interface="public", region_name="RegionOne"
    )
    assert url is not None and re.fullmatch(r"http://127\.0\.0\.1:3333/?", url)
