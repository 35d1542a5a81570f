"""Metadata definitions through /v2/metadefs, with Glance's semantics: who sees and changes
which namespace, protected namespaces, conflicts, bad bodies, and the schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from lading.app import create_app
from lading.cli import main
from lading.services.access import Caller
from lading.settings import CONFIG_FILE_VARIABLE, Settings
from tests.api.helpers import assert_error
from tests.json_schemas import conforms
from tests.portal import call

NS = "/v2/metadefs/namespaces"
SCHEMA_NAMES = {
    "namespace": "namespace", "namespaces": "namespaces", "object": "object",
    "objects": "objects", "property": "property", "properties": "properties", "tag": "tag",
    "tags": "tags", "resource_type": "resource_type_association",
    "resource_types": "resource_type_associations",
}  # fmt: skip


class Project:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"x-auth-token": token}

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: object = None, **headers: str) -> Any:
        return self.client.post(path, json=body, headers=self.headers | headers)

    def put(self, path: str, body: object) -> Any:
        return self.client.put(path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)

    def schema(self, name: str) -> Any:
        return self.get(f"/v2/schemas/metadefs/{name}").json()


@pytest.fixture
def projects(settings: Settings) -> Iterator[dict[str, Project]]:
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        roles = {"admin": "admin", "alice": "member", "bob": "member", "reader": "reader"}
        yield {
            name: Project(client, call(client, make, name, role).token)
            for name, role in roles.items()
        }


def test_namespace_lifecycle_as_tempest_runs_it(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    made = admin.post(
        NS,
        {
            "namespace": "OS::Compute::Test", "display_name": "Test", "description": "d",
            "visibility": "public", "protected": True,
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        },
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    conforms(body, admin.schema("namespace"))
    assert (body["owner"], body["visibility"], body["protected"]) == ("admin", "public", True)
    assert body["self"] == made.headers["location"] == f"{NS}/OS%3A%3ACompute%3A%3ATest"
    listed = admin.get(NS).json()
    conforms(listed, admin.schema("namespaces"))
    assert [one["namespace"] for one in listed["namespaces"]] == ["OS::Compute::Test"]
    types = admin.get("/v2/metadefs/resource_types").json()["resource_types"]
    assert "OS::Glance::Image" in [one["name"] for one in types]  # made by the association

    assert_error(admin.delete(f"{NS}/OS::Compute::Test"), 403)  # protected
    updated = admin.put(
        f"{NS}/OS::Compute::Test",
        {"namespace": "OS::Compute::Test", "visibility": "private", "protected": False},
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["visibility"], updated.json()["protected"]) == ("private", False)
    assert updated.json()["display_name"] == "Test"  # what the body leaves out stays
    assert admin.delete(f"{NS}/OS::Compute::Test").status_code == 204
    assert_error(admin.get(f"{NS}/OS::Compute::Test"), 404)
    assert admin.get(NS).json()["namespaces"] == []


def test_visibility_and_who_may_change(projects: dict[str, Project]) -> None:
    admin, alice, bob, reader = (projects[n] for n in ("admin", "alice", "bob", "reader"))
    # Glance's defaults: only administrators create, change and delete namespaces.
    assert_error(alice.post(NS, {"namespace": "mine"}), 403)
    assert admin.post(NS, {"namespace": "alices", "owner": "alice"}).status_code == 201
    assert admin.post(NS, {"namespace": "open", "visibility": "public"}).status_code == 201
    assert admin.post(f"{NS}/alices/tags/t1").status_code == 201

    # A private namespace is its project's; another project's does not exist for it.
    assert alice.get(f"{NS}/alices").status_code == 200
    assert alice.get(f"{NS}/alices/tags/t1").status_code == 200
    assert_error(bob.get(f"{NS}/alices"), 404)
    assert_error(bob.get(f"{NS}/alices/tags"), 404)
    assert_error(bob.get(f"{NS}/alices/tags/t1"), 404)
    assert_error(bob.delete(f"{NS}/alices"), 404)
    assert {n["namespace"] for n in bob.get(NS).json()["namespaces"]} == {"open"}
    assert {n["namespace"] for n in alice.get(NS).json()["namespaces"]} == {"alices", "open"}
    assert {n["namespace"] for n in admin.get(NS).json()["namespaces"]} == {"alices", "open"}
    assert reader.get(f"{NS}/open").status_code == 200

    # Seen, but not theirs to change (the policy says administrators).
    assert_error(alice.put(f"{NS}/alices", {"namespace": "alices", "protected": True}), 403)
    assert_error(alice.delete(f"{NS}/alices/tags/t1"), 403)
    assert_error(bob.post(f"{NS}/open/objects", {"name": "o"}), 403)
    assert_error(bob.post(f"{NS}/open/resource_types", {"name": "OS::Nova::Flavor"}), 403)
    # A member may not create a namespace for another project even if a policy let it.
    assert_error(alice.post(NS, {"namespace": "x", "owner": "bob"}), 403)


def test_objects_properties_tags(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    assert admin.post(NS, {"namespace": "n", "visibility": "public"}).status_code == 201
    # Objects.
    made = admin.post(
        f"{NS}/n/objects",
        {"name": "CPU", "description": "c", "required": ["cores"],
         "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    conforms(made.json(), admin.schema("object"))
    assert_error(admin.post(f"{NS}/n/objects", {"name": "CPU"}), 409)
    renamed = admin.put(f"{NS}/n/objects/CPU", {"name": "Processor"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Processor"
    assert_error(admin.get(f"{NS}/n/objects/CPU"), 404)
    objects = admin.get(f"{NS}/n/objects").json()
    conforms(objects, admin.schema("objects"))
    assert [one["name"] for one in objects["objects"]] == ["Processor"]
    assert admin.delete(f"{NS}/n/objects/Processor").status_code == 204
    assert_error(admin.delete(f"{NS}/n/objects/Processor"), 404)

    # Properties.
    enum = ["kvm", "qemu"]
    made = admin.post(
        f"{NS}/n/properties", {"name": "hv", "title": "Hypervisor", "type": "string", "enum": enum}
    )
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "hv", "title": "Hypervisor", "type": "string", "enum": enum}
    conforms(made.json(), admin.schema("property"))
    assert_error(
        admin.post(f"{NS}/n/properties", {"name": "hv", "title": "t", "type": "string"}), 409
    )
    changed = admin.put(f"{NS}/n/properties/hv", {"title": "HV", "type": "string", "name": "hv"})
    assert changed.status_code == 200 and changed.json()["title"] == "HV"
    listed = admin.get(f"{NS}/n/properties").json()
    conforms(listed, admin.schema("properties"))
    assert listed["properties"] == {"hv": {"name": "hv", "title": "HV", "type": "string"}}
    shown = admin.get(f"{NS}/n").json()
    assert shown["properties"]["hv"]["title"] == "HV"
    assert admin.delete(f"{NS}/n/properties/hv").status_code == 204

    # Tags: a list replaces them (unless appended), one is made by name.
    tags = {"tags": [{"name": "a"}, {"name": "b"}]}
    made = admin.post(f"{NS}/n/tags", tags)
    assert made.status_code == 201 and made.json() == tags
    assert admin.post(f"{NS}/n/tags", {"tags": [{"name": "c"}]}).status_code == 201
    assert [t["name"] for t in admin.get(f"{NS}/n/tags").json()["tags"]] == ["c"]
    appended = admin.post(f"{NS}/n/tags", tags, **{"x-openstack-append": "true"})
    assert appended.status_code == 201
    assert_error(admin.post(f"{NS}/n/tags", tags, **{"x-openstack-append": "true"}), 409)
    assert admin.post(f"{NS}/n/tags/d").status_code == 201
    assert_error(admin.post(f"{NS}/n/tags/d"), 409)
    listed = admin.get(f"{NS}/n/tags").json()
    conforms(listed, admin.schema("tags"))
    assert sorted(t["name"] for t in listed["tags"]) == ["a", "b", "c", "d"]
    assert admin.put(f"{NS}/n/tags/d", {"name": "e"}).json()["name"] == "e"
    assert admin.delete(f"{NS}/n/tags/e").status_code == 204
    assert admin.delete(f"{NS}/n/tags").status_code == 204
    assert admin.get(f"{NS}/n/tags").json()["tags"] == []

    # A protected namespace keeps its contents.
    admin.post(f"{NS}/n/tags/kept")
    assert admin.put(f"{NS}/n", {"protected": True}).status_code == 200
    assert_error(admin.delete(f"{NS}/n/tags/kept"), 403)
    assert_error(admin.delete(f"{NS}/n/tags"), 403)


def test_resource_type_associations(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    admin.post(NS, {"namespace": "n"})
    admin.post(NS, {"namespace": "m"})
    path = f"{NS}/n/resource_types"
    made = admin.post(path, {"name": "OS::Nova::Flavor", "prefix": "hw:"})
    assert made.status_code == 201, made.text
    conforms(made.json(), admin.schema("resource_type"))
    assert_error(admin.post(path, {"name": "OS::Nova::Flavor"}), 409)
    listed = admin.get(path).json()
    conforms(listed, admin.schema("resource_types"))
    assert [one["name"] for one in listed["resource_type_associations"]] == ["OS::Nova::Flavor"]
    filtered = admin.get(f"{NS}?resource_types=OS::Nova::Flavor").json()["namespaces"]
    assert [one["namespace"] for one in filtered] == ["n"]
    admin.post(f"{NS}/n/properties", {"name": "cpus", "title": "CPUs", "type": "integer"})
    prefixed = admin.get(f"{NS}/n?resource_type=OS::Nova::Flavor").json()
    assert list(prefixed["properties"]) == ["hw:cpus"]
    assert admin.delete(f"{path}/OS::Nova::Flavor").status_code == 204
    assert_error(admin.delete(f"{path}/OS::Nova::Flavor"), 404)
    assert admin.get(path).json()["resource_type_associations"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (NS, {"display_name": "no namespace"}),
        (NS, {"namespace": "n", "visibility": "everyone"}),
        (NS, {"namespace": "n", "protected": "yes"}),
        (NS, {"namespace": "n", "colour": "red"}),
        (NS, {"namespace": "x" * 81}),
        (NS, ["not", "an", "object"]),
        (NS, {"namespace": "n", "properties": {"p": {"type": "string"}}}),  # no title
        (f"{NS}/ok/properties", {"name": "p", "title": "P", "type": "colour"}),
        (f"{NS}/ok/properties", {"name": "p", "title": "P", "type": "string", "bad": 1}),
        (f"{NS}/ok/properties", {"name": "p", "title": "P", "type": "integer", "minimum": "1"}),
        (f"{NS}/ok/objects", {"description": "no name"}),
        (f"{NS}/ok/objects", {"name": "o", "required": "cores"}),
        (f"{NS}/ok/tags", {"tags": "a"}),
        (f"{NS}/ok/tags", {"tags": [{"name": "a"}, {"name": "a"}]}),
        (f"{NS}/ok/resource_types", {"prefix": "no name"}),
    ],
)
def test_bad_bodies_are_400(projects: dict[str, Project], path: str, body: object) -> None:
    admin = projects["admin"]
    admin.post(NS, {"namespace": "ok"})
    assert_error(admin.post(path, body), 400)


def test_conflicts_and_read_only(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    assert admin.post(NS, {"namespace": "n"}).status_code == 201
    assert_error(admin.post(NS, {"namespace": "n"}), 409)
    admin.post(NS, {"namespace": "m"})
    assert_error(admin.put(f"{NS}/m", {"namespace": "n"}), 409)  # renamed onto another
    assert_error(admin.put(f"{NS}/m", {"namespace": "m", "created_at": "now"}), 403)
    # Renamed: its contents follow.
    admin.post(f"{NS}/m/tags/t")
    assert admin.put(f"{NS}/m", {"namespace": "m2"}).status_code == 200
    assert [t["name"] for t in admin.get(f"{NS}/m2/tags").json()["tags"]] == ["t"]
    assert_error(admin.get(f"{NS}/m"), 404)


def test_listing_pages_and_filters(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    for name in ("a", "b", "c"):
        admin.post(NS, {"namespace": name, "visibility": "public" if name != "b" else "private"})
    page = admin.get(f"{NS}?limit=2").json()
    assert [n["namespace"] for n in page["namespaces"]] == ["a", "b"]
    rest = admin.get(page["next"]).json()
    assert [n["namespace"] for n in rest["namespaces"]] == ["c"]
    desc = admin.get(f"{NS}?sort_dir=desc").json()["namespaces"]
    assert [n["namespace"] for n in desc] == ["c", "b", "a"]
    public = admin.get(f"{NS}?visibility=public").json()["namespaces"]
    assert [n["namespace"] for n in public] == ["a", "c"]
    assert_error(admin.get(f"{NS}?visibility=shared"), 400)
    assert_error(admin.get(f"{NS}?sort_key=owner"), 400)
    assert_error(admin.get(f"{NS}?marker=nowhere"), 404)


def test_schemas_are_glances(projects: dict[str, Project]) -> None:
    admin = projects["admin"]
    for path, name in SCHEMA_NAMES.items():
        schema = admin.schema(path)
        assert schema["name"] == name
        jsonschema.Draft4Validator.check_schema(schema)
    assert_error(admin.get("/v2/schemas/metadefs/nothing"), 404)


# Two definition files in Glance's format (written here, in its shape), and a broken one.
CPU_FILE = {
    "namespace": "OS::Compute::Test-CPU",
    "display_name": "CPU",
    "description": "CPU settings",
    "visibility": "public",
    "protected": True,
    "resource_type_associations": [
        {"name": "OS::Glance::Image", "prefix": "hw_"},
        {"name": "OS::Nova::Flavor", "prefix": "hw:"},
        {"name": "OS::Cinder::Volume", "prefix": "hw_", "properties_target": "image"},
    ],
    "properties": {
        "cpu_policy": {
            "title": "CPU Policy", "description": "d", "type": "string",
            "enum": ["shared", "dedicated"], "default": "shared",
        },
        "cpu_sockets": {"title": "Sockets", "type": "integer", "minimum": 1, "readonly": False},
    },
    "objects": [
        {"name": "Topology", "description": "t", "required": ["cores"],
         "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}},
    ],
}  # fmt: skip
TAGS_FILE = {
    "namespace": "OS::Test::Tags",
    "display_name": "Tags",
    "owner": "alice",
    "tags": [{"name": "gpu"}, {"name": "ssd"}],
    "properties": {
        "list": {"title": "L", "type": "array", "items": {"type": "string", "enum": ["a", "b"]},
                 "operators": ["<or>", "<all-in>"]},
    },
}  # fmt: skip


def load(tmp_path: Path, database_url: str, directory: Path, *options: str) -> Any:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{database_url}"\n')
    arguments = ["metadefs", "load", "--config", str(config), str(directory), *options]
    return CliRunner().invoke(main, arguments)


def test_metadefs_load(
    tmp_path: Path, database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_FILE_VARIABLE, raising=False)
    directory = tmp_path / "metadefs"
    directory.mkdir()
    (directory / "compute-cpu.json").write_text(json.dumps(CPU_FILE))
    (directory / "tags.json").write_text(json.dumps(TAGS_FILE))
    (directory / "broken.json").write_text('{"namespace": "x", "properties": {"p": {}}}')
    (directory / "notes.txt").write_text("not a definition")
    result = load(tmp_path, database_url, directory)
    assert result.exit_code == 1, result.output
    assert "compute-cpu.json: loaded OS::Compute::Test-CPU" in result.output
    assert "tags.json: loaded OS::Test::Tags" in result.output
    assert "broken.json: not loaded" in result.output

    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        admin, bob, alice = (
            Project(client, call(client, make, name, role).token)
            for name, role in (("admin", "admin"), ("bob", "member"), ("alice", "member"))
        )
        shown = bob.get(f"{NS}/OS::Compute::Test-CPU").json()
        conforms(shown, bob.schema("namespace"))
        assert (shown["owner"], shown["protected"]) == ("admin", True)
        assert shown["properties"]["cpu_policy"]["default"] == "shared"
        assert [o["name"] for o in shown["objects"]] == ["Topology"]
        assert len(shown["resource_type_associations"]) == 3
        flavor = bob.get(f"{NS}/OS::Compute::Test-CPU?resource_type=OS::Nova::Flavor").json()
        assert sorted(flavor["properties"]) == ["hw:cpu_policy", "hw:cpu_sockets"]
        (topology,) = flavor["objects"]
        assert (list(topology["properties"]), topology["required"]) == (["hw:cores"], ["hw:cores"])
        assert_error(bob.get(f"{NS}/OS::Test::Tags"), 404)  # alice's and private
        tags = alice.get(f"{NS}/OS::Test::Tags/tags").json()["tags"]
        assert sorted(t["name"] for t in tags) == ["gpu", "ssd"]
        assert_error(admin.delete(f"{NS}/OS::Compute::Test-CPU"), 403)  # protected
        # Changed through the API, then loaded again: kept, unless replaced.
        admin.put(f"{NS}/OS::Compute::Test-CPU", {"description": "changed"})

    (directory / "broken.json").unlink()
    again = load(tmp_path, database_url, directory)
    assert again.exit_code == 0 and "kept the namespace" in again.output
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        shown = client.app.state.services  # type: ignore[attr-defined]
        found = call(client, shown.metadefs.get_namespace, Caller.with_role("admin", "admin"),
                          "OS::Compute::Test-CPU")  # fmt: skip
        assert found.namespace.description == "changed"
    replaced = load(tmp_path, database_url, directory, "--replace")
    assert replaced.exit_code == 0, replaced.output
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        found = call(client, services.metadefs.get_namespace, Caller.with_role("admin", "admin"),
                          "OS::Compute::Test-CPU")  # fmt: skip
        assert found.namespace.description == "CPU settings"


def test_hostile_names_and_numbers(projects: dict[str, Project]) -> None:
    """No 500: a NUL in a path (PostgreSQL refuses it in text) is no such thing, and a
    number JSON cannot carry back (NaN, Infinity) is refused."""
    admin = projects["admin"]
    admin.post(NS, {"namespace": "n"})
    for path in (f"{NS}/a%00b", f"{NS}/n/objects/a%00b", f"{NS}/n/tags/a%00b"):
        assert_error(admin.get(path), 404)
        assert_error(admin.delete(path), 404)
    assert_error(admin.delete(f"{NS}/n/resource_types/a%00b"), 404)
    assert_error(admin.post(NS, {"namespace": "a\x00b"}), 400)
    for number in ("NaN", "Infinity", "1e400"):
        body = '{"name": "p", "title": "P", "type": "number", "minimum": ' + number + "}"
        answer = admin.client.post(
            f"{NS}/n/properties",
            content=body,
            headers=admin.headers | {"content-type": "application/json"},
        )
        assert_error(answer, 400)


@pytest.mark.parametrize("query", ["sort_dir=", "sort_key=", "visibility=", "limit=", "limit=-1"])
def test_empty_or_bad_list_parameters_are_400(projects: dict[str, Project], query: str) -> None:
    assert_error(projects["admin"].get(f"{NS}?{query}"), 400)


def test_a_policy_file_widens_changes_to_a_project_s_own(tmp_path: Path, database_url: str) -> None:
    """Glance's rule names from a policy file: members may then create and change
    namespaces, but only their project's; another project's stays out of reach."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        '"metadef_admin": "role:admin or role:member"\n'
        '"add_metadef_namespace": "rule:metadef_admin"\n'
    )
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, policy_file=policy)
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        alice, bob = (
            Project(client, call(client, make, name, "member").token) for name in ("alice", "bob")
        )
        made = alice.post(NS, {"namespace": "alices", "visibility": "public"})
        assert made.status_code == 201 and made.json()["owner"] == "alice"
        assert alice.post(f"{NS}/alices/tags/t").status_code == 201
        assert bob.get(f"{NS}/alices/tags/t").status_code == 200  # public: seen
        assert_error(bob.post(f"{NS}/alices/tags/u"), 403)  # not bob's to change
        assert_error(bob.delete(f"{NS}/alices"), 403)
        assert_error(alice.post(NS, {"namespace": "for-bob", "owner": "bob"}), 403)
        assert alice.delete(f"{NS}/alices").status_code == 204
