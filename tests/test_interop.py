"""make interop's own pieces: the skip lists' form and reasons (Tempest's and
openstacksdk's), lading's registration in Keystone's catalogue (against the real Keystone),
the qcow2 that web-download fetches, openstacksdk's clouds.yaml and environment."""

from __future__ import annotations

import importlib.util
import json
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
# openstacksdk's list: another service. Nothing else.
SDK_KINDS = {"needs Nova", "needs Cinder"}


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


def test_every_entry_of_the_openstacksdk_skip_list_has_a_known_reason(run: ModuleType) -> None:
    entries = run.skip_list(run.SDK_SKIP_LIST)
    assert entries
    for pattern, reason in entries:
        assert pattern.pattern.startswith(r"^openstack\.tests\.functional\."), pattern.pattern
        kind, _, detail = reason.partition(":")
        assert kind in SDK_KINDS, reason
        assert detail.strip(), f"{pattern.pattern}: no detail after {kind!r}"


def test_the_openstacksdk_skip_list_leaves_out_only_what_it_names(run: ModuleType) -> None:
    entries = run.skip_list(run.SDK_SKIP_LIST)
    functional = "openstack.tests.functional"
    tests = [
        f"{functional}.compute.v2.test_image.TestImage.test_image",
        f"{functional}.image.v2.test_image.TestImage.test_images",
        f"{functional}.image.v2.test_member.TestImageMember.test_image_members",
        f"{functional}.image.v2.test_metadef_schema.TestMetadefSchema.test_get_metadef_tag_schema",
        f"{functional}.cloud.test_image.TestImage.test_download_image",
    ]
    assert run.left_out(tests, entries) == {"needs Nova": 1}
    assert run.unmatched(tests, entries) == []
    assert run.unmatched(tests[1:], entries) == [
        r"^openstack\.tests\.functional\.compute\.v2\.test_image\."
    ]


def test_a_skip_list_reason_and_pattern_are_read_as_stestr_reads_them(
    run: ModuleType, tmp_path: Path
) -> None:
    skip = tmp_path / "skip.txt"
    skip.write_text("# a comment\n\n^a\\.b\\.  # needs Nova: servers\n^c$\n")
    entries = run.skip_list(skip)
    assert [(p.pattern, reason) for p, reason in entries] == [
        (r"^a\.b\.", "needs Nova: servers"),
        ("^c$", ""),
    ]


def test_the_openstacksdk_clouds_are_keystones_users_in_other_projects(
    run: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OS_AUTH_URL", "http://elsewhere.example/v3")
    monkeypatch.setenv("OPENSTACKSDK_IMAGE", "another")
    env = run.sdk_environment(tmp_path, "lading-interop-test")
    assert "OS_AUTH_URL" not in env  # the caller's cloud is not the tests'
    config = json.loads(Path(env["OS_CLIENT_CONFIG_FILE"]).read_text())["clouds"]
    assert env["OPENSTACKSDK_IMAGE"] == run.SDK_IMAGE
    operator = config[env["OPENSTACKSDK_OPERATOR_CLOUD"]]["auth"]
    assert (operator["username"], operator["project_name"]) == ("admin", "admin")
    assert env["OS_CLOUD"] == env["OPENSTACKSDK_OPERATOR_CLOUD"]
    system = config[env["OPENSTACKSDK_SYSTEM_ADMIN_CLOUD"]]["auth"]
    assert system["system_scope"] == "all" and "project_name" not in system
    demo = config[env["OPENSTACKSDK_DEMO_CLOUD"]]["auth"]
    alt = config[env["OPENSTACKSDK_DEMO_CLOUD_ALT"]]["auth"]
    # Sharing tests add the demo cloud's project as a member of the admin's image.
    assert {demo["project_name"], alt["project_name"], "admin"} == {"alpha", "beta", "admin"}
    for cloud in config.values():  # the image service of the run's region
        assert cloud["region_name"] == "lading-interop-test"
        assert cloud["auth"]["auth_url"] == run.KEYSTONE_URL


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


def test_every_openstacksdk_cloud_signs_in_to_keystone(run: ModuleType, keystone_url: str) -> None:
    """The users, passwords and projects of clouds.yaml are those scripts/services.sh made."""
    for name, cloud in run.clouds("RegionOne", keystone_url)["clouds"].items():
        auth = dict(cloud["auth"])
        password = v3.Password(**auth)
        signed_in = session.Session(auth=password)
        access = password.get_access(signed_in)
        if "system_scope" in auth:
            assert access.system_scoped, name
        else:
            assert access.project_name == auth["project_name"], name
            assert access.role_names is not None, name
            assert "member" in access.role_names or "admin" in access.role_names, name


def test_a_runs_region_holds_its_endpoints_and_goes_with_them(
    run: ModuleType, admin: session.Session, keystone_url: str, service_type: str
) -> None:
    """Two runs on one Keystone: each registers in its own region, and neither moves the
    other's endpoints (nor RegionOne's)."""
    run.register("http://127.0.0.1:1111", keystone_url, service_type)
    with run.run_region(keystone_url) as first, run.run_region(keystone_url) as second:
        assert first != second and first.startswith("lading-interop-")
        service_id = run.register("http://127.0.0.1:4444", keystone_url, service_type, first)
        run.register("http://127.0.0.1:5555", keystone_url, service_type, second)
        listed = admin.get(f"{keystone_url}/endpoints", params={"service_id": service_id})
        found = {(e["region_id"], e["url"]) for e in listed.json()["endpoints"]}
        assert found == {
            ("RegionOne", "http://127.0.0.1:1111"),
            (first, "http://127.0.0.1:4444"),
            (second, "http://127.0.0.1:5555"),
        }
    listed = admin.get(f"{keystone_url}/endpoints", params={"service_id": service_id})
    assert {e["region_id"] for e in listed.json()["endpoints"]} == {"RegionOne"}
    for region in (first, second):
        assert admin.get(f"{keystone_url}/regions/{region}", raise_exc=False).status_code == 404
