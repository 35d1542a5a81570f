"""The glance CLI and openstacksdk against a live lading that takes Keystone's tokens.

lading is not yet in Keystone's catalogue (the next step of issue 19): the clients sign
in to the real Keystone of scripts/services.sh and are pointed at lading by URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest

from tests.api.test_keystone import TEST_PASSWORD, project_scope, sign_in
from tests.clients.conftest import Lading, keystone_settings, running_lading
from tests.clients.support import run_glance, unique

pytestmark = [
    pytest.mark.clients,
    # openstacksdk's own deprecations, raised whatever the caller does (test_openstacksdk.py)
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture(scope="module")
def keystone_lading(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config, keystone_url: str
) -> Iterator[Lading]:
    root = tmp_path_factory.mktemp("keystone-lading")
    with running_lading(root, pytestconfig, keystone_settings(keystone_url)) as server:
        yield server


def test_the_glance_cli_with_a_keystone_token(
    keystone_lading: Lading, keystone_url: str, tmp_path: Path
) -> None:
    member = sign_in(keystone_url, "alpha-member", TEST_PASSWORD, project_scope("alpha"))
    name = unique("keystone-cli")
    created = run_glance(
        keystone_lading.url,
        member.value,
        tmp_path,
        "image-create",
        "--name",
        name,
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        stdin_closed=True,
    )
    assert created.returncode == 0, created.stderr
    listed = run_glance(keystone_lading.url, member.value, tmp_path, "image-list")
    assert name in listed.stdout, listed.stderr
    refused = run_glance(keystone_lading.url, "gAAAAAnonsense", tmp_path, "image-list")
    assert refused.returncode != 0
    assert "Invalid OpenStack Identity credentials" in refused.stderr  # glanceclient's 401


def test_openstacksdk_with_keystone_password_auth(
    keystone_lading: Lading, keystone_url: str
) -> None:
    connection = openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_url=keystone_url,
        username="beta-member",
        password=TEST_PASSWORD,
        project_name="beta",
        user_domain_name="Default",
        project_domain_name="Default",
        image_endpoint_override=keystone_lading.url,
    )
    try:
        image = connection.image.create_image(
            unique("keystone-sdk"), disk_format="raw", container_format="bare"
        )
        assert image.owner == connection.current_project_id
        found = connection.image.get_image(image.id)
        assert json.loads(json.dumps(found.to_dict()))["owner"] == image.owner
        connection.image.delete_image(image.id)
    finally:
        connection.close()
