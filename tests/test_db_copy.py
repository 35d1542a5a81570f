"""``lading db copy``: a catalogue with every kind of row, copied from SQLite to
PostgreSQL (and back, and SQLite to SQLite), checked, then served: the same images, bytes,
packages, registry manifests and tokens; and what it refuses, in one line each."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, insert, select, text, update
from starlette.testclient import TestClient

from lading.app import create_app, create_registry_app
from lading.cli import main
from lading.cli.database import show
from lading.clock import Clock
from lading.db.copier import SEEDED, Copier, CopyRefused, last_ids
from lading.db.engine import HEAD, Database
from lading.db.models import artifact_properties, artifacts, blobs, holders, metadata
from lading.settings import CONFIG_FILE_VARIABLE, Settings
from tests.api import seeds
from tests.api.test_oci import Registry
from tests.api.test_pypi import basic
from tests.conftest import scratch_database
from tests.python_dists import sdist, wheel
from tests.services_required import SERVICES
from tests.world import IDENTITIES, World, open_world

HEARTBEAT = 0.2  # seconds: the test's servers count as stopped this long after they stop
# What the populated world holds no row of, and why.
EMPTY = {
    "holders": "a server withdraws as it stops (a copy of a live one is refused)",
    "signed_nonces": "only Click's signed requests leave nonces",
    "visor_keys": "made by lading visor-key, not through the API",
    "package_images": "PNDA and Click packages that are disk images",
    "container_disk_layers": "container disks are OCI images of a disk",
    "package_name_publishers": "only when an owner lets another project publish",
    "retention_marks": "made when a retention run reaches an artifact",
    "oci_uploads": "every registry upload here finished",
    "oci_upload_parts": "every registry upload here finished",
    "tus_upload_parts": "the tus upload here has no bytes yet",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_FILE_VARIABLE, raising=False)
    monkeypatch.setenv("LADING_UPLOAD_HEARTBEAT", str(HEARTBEAT))


@contextlib.contextmanager
def catalogue(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """A new database of ``kind``, not migrated."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    with scratch_database(f"lading_copy_{name}", migrated=False) as url:
        yield url


def populate(world: World, registry: Registry) -> dict[str, Any]:
    """Rows of every kind the faces make; returns what a client saw of them."""
    client = world.client
    client.headers.update(world.as_("admin"))
    pools = seeds.seed_images(client)
    seeds.image(client, name="with-properties", os_distro="debian", hw_disk_bus="scsi")
    seeds.seed_pnda(client, 1)
    seeds.seed_click(client, 1)
    seeds.seed_osm(client, 1)
    registry.push_image("team/app", "v1", b"layer bytes" * 100, "admin")
    for dist in (wheel("Demo", "1.0"), sdist("Demo", "1.0"), wheel("Demo", "2.0")):
        answer = client.post(
            "/pypi/main/", data=dist.fields(),
            files={"content": (dist.filename, dist.data, "application/octet-stream")},
            headers=basic(world, "admin"),
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    team = client.put("/pypi/team/", json={"visibility": "private", "bases": ["main"]})
    assert team.status_code in (200, 201), team.text  # an index made through the API
    gone = client.delete("/pypi/main/files/demo/demo-2.0-py3-none-any.whl")
    assert gone.status_code in (200, 204), gone.text  # its name is burnt: a row of its own
    world.settled()
    return seen(world.client, registry, pools["artifact_id"])


def seen(client: TestClient, registry: Registry, image_ids: list[str]) -> dict[str, Any]:
    """What clients see: the images listed, each active one's bytes' digest, the
    packages, a simple page and a manifest."""
    listed = client.get("/v2/images", params={"limit": 100}).json()["images"]
    contents = {}
    for image in listed:
        if image["status"] == "active":
            data = client.get(f"/v2/images/{image['id']}/file")
            assert data.status_code == 200
            contents[image["id"]] = hashlib.sha256(data.content).hexdigest()
    manifest = registry.request("GET", "/v2/team/app/manifests/v1", "admin")
    assert manifest.status_code == 200, manifest.text
    return {
        "images": sorted(listed, key=lambda image: image["id"]),
        "shown": [client.get(f"/v2/images/{i}").json() for i in image_ids],
        "contents": contents,
        "members": client.get(f"/v2/images/{image_ids[4]}/members").json(),
        "packages": client.get("/packages").json(),
        "pypi": client.get("/pypi/main/simple/demo/").text,
        "indexes": client.get("/pypi/", headers={"accept": "application/json"}).text,
        "manifest": manifest.content,
        "tasks": client.get("/v2/tasks").json(),
    }


def rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def copy(source: str, target: str, *options: str) -> Result:
    return CliRunner().invoke(main, ["db", "copy", "--from", source, "--to", target, *options])


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[tuple[World, Registry]]:
    with open_world(create_app(settings), IDENTITIES) as world:
        app = create_registry_app(settings)
        with TestClient(app, base_url="http://registry.test") as registry_client:
            yield world, Registry(registry_client, world.tokens)


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [
        pytest.param("sqlite", "postgresql", marks=SERVICES),
        pytest.param("postgresql", "sqlite", marks=SERVICES),
        pytest.param("sqlite", "sqlite", marks=pytest.mark.heavy),  # 4-20 s, by the load
    ],
)
def test_a_copied_catalogue_serves_the_same_artifacts_and_bytes(
    source_kind: str, target_kind: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with (
        catalogue(source_kind, tmp_path, "source") as source,
        catalogue(target_kind, tmp_path, "target") as target,
    ):
        settings = seeds.world_settings(data_dir, tmp_path / "unused.db").model_copy(
            update={"database_url": source}
        )
        with served(settings) as (world, registry):
            before = populate(world, registry)
            tokens = world.tokens
        held = rows(source)
        database = Database(source)
        with database.engine.connect() as connection:
            given = last_ids(connection)["blobs"]  # the last blob id given, deleted or not
        database.dispose()
        assert {name for name, count in held.items() if not count} == set(EMPTY)

        copied = copy(source, target)
        assert copied.exit_code == 0, copied.output
        assert f"at migration {HEAD}" in copied.output
        assert "DIFFERENT" not in copied.output
        assert rows(target) == held

        again = copy(source, target)  # the target is not empty any more
        assert again.exit_code == 1
        assert "is not empty" in again.output and "--replace" in again.output
        assert len(again.output.strip().splitlines()) == 1
        assert copy(source, target, "--replace").exit_code == 0

        on_copy = settings.model_copy(update={"database_url": target})
        with served(on_copy) as (world, registry):
            world.client.headers.update({"x-auth-token": tokens["admin"]})  # copied tokens
            after = seen(world.client, registry, [i["id"] for i in before["shown"]])
            # Ids go on where the source's left off: a new blob does not take an old id.
            image_id = seeds.image(world.client, name="after the copy")
            octets = {"content-type": "application/octet-stream"}
            seeds.call(world.client, "PUT", f"/v2/images/{image_id}/file", 204,
                       content=b"bytes no image had", headers=octets)  # fmt: skip
        assert after == before
        assert len(before["contents"]) >= 4
        engine = create_engine(target)
        with engine.connect() as connection:
            located = connection.execute(
                text("SELECT count(*) FROM locations WHERE artifact_id = :id"), {"id": image_id}
            ).scalar_one()
            newest = connection.execute(select(func.max(blobs.c.id))).scalar_one()
        engine.dispose()
        assert located == 1 and newest == given + 1


def test_a_copy_that_differs_is_told_and_exits_non_zero(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    settings = Settings(data_dir=tmp_path / "data", database_url=source)
    with served(settings) as (world, _registry):
        world.client.headers.update(world.as_("owner"))
        seeds.active_image(world.client, name="one", os_distro="debian")

    # A server that writes to the source during the copy: after the artifacts went.
    def write_meanwhile(table: str, _rows: int) -> None:
        if table == "artifact_properties":
            engine = create_engine(source)
            with engine.begin() as connection:
                connection.execute(update(artifact_properties).values(value="ubuntu"))
            engine.dispose()

    copier = Copier(source, target, progress=write_meanwhile)
    copier.prepare(False, datetime.max)
    copier.copy()
    report = copier.check()
    copier.close()
    different = [table.name for table in report.tables if not table.matches]
    assert different == ["artifact_properties"]  # as many rows, another value
    with pytest.raises(click.ClickException, match="differs from the source in artifact_prop"):
        show(report)

    # A copy altered afterwards, in one byte of one row.
    engine = create_engine(target)
    with engine.begin() as connection:
        connection.execute(update(artifacts).values(name="One"))
    engine.dispose()
    copier = Copier(source, target)
    report = copier.check()
    copier.close()
    assert [table.name for table in report.tables if not table.matches] == [
        "artifacts",
        "artifact_properties",
    ]


def refusal(result: Result) -> str:
    """The one line of a refused copy (after its progress on stderr, if it began)."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert [line for line in lines if not line.startswith(("copying ", "  "))] == lines[-1:]
    assert "Traceback" not in result.output
    return lines[-1]


def test_what_a_copy_refuses_before_it_writes(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    missing = refusal(copy(source, target))
    assert f"no catalogue at {tmp_path / 'a.db'}" in missing
    assert not (tmp_path / "a.db").exists()  # not made by asking

    old = Database(source)
    old.upgrade("0019")
    old.dispose()
    behind = refusal(copy(source, target))
    assert f"at migration 0019, this lading's is {HEAD}" in behind
    assert "run lading db upgrade" in behind
    assert not (tmp_path / "b.db").exists()

    Database(source).upgrade("head")
    assert "the same database" in refusal(copy(source, f"sqlite:///{tmp_path / '.' / 'a.db'}"))

    engine = create_engine(source)
    with engine.begin() as connection:  # a server beating right now, in this very process
        connection.execute(
            insert(holders).values(
                id="h" * 32, host=None, pid=os.getpid(), started="1", beat_at=Clock().now()
            )
        )
    writing = refusal(copy(source, target))
    assert "a server still writes to" in writing and "stop every server first" in writing
    with engine.begin() as connection:  # one that stopped beating a heartbeat ago
        connection.execute(update(holders).values(beat_at=Clock().now() - timedelta(seconds=1)))
    engine.dispose()
    assert copy(source, target).exit_code == 0

    foreign = f"sqlite:///{tmp_path / 'other.db'}"
    other = create_engine(foreign)
    with other.begin() as connection:
        connection.execute(text("CREATE TABLE accounts (id INTEGER PRIMARY KEY)"))
    other.dispose()
    assert "is not a lading catalogue" in refusal(copy(source, foreign))

    in_use = Database(f"sqlite:///{tmp_path / 'in-use.db'}")  # an older catalogue with rows
    in_use.upgrade("0019")
    with in_use.engine.begin() as connection:
        connection.execute(text("INSERT INTO holders VALUES ('x', NULL, 1, '1', '2026-01-01')"))
    assert "is not empty (rows in holders)" in refusal(copy(source, str(in_use.url)))
    with in_use.engine.connect() as connection:  # refused before it was migrated
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0019"
        )
    in_use.dispose()

    closed = "postgresql+psycopg://lading:lading@127.0.0.1:9/lading"
    assert "the database cannot be reached: " in refusal(copy(source, closed))
    assert "Could not parse SQLAlchemy URL" in refusal(copy(source, "not a url"))
    with pytest.raises(CopyRefused, match="same database"):
        Copier(source, source)


@pytest.mark.usefixtures("postgres_url")  # PostgreSQL, reached through scratch_database
def test_a_row_postgresql_refuses_stops_the_copy_and_leaves_the_target_empty(
    tmp_path: Path,
) -> None:
    """SQLite keeps what PostgreSQL refuses (a NUL in text): the copy names the table, and
    the target keeps nothing of it, so that it can be copied again once mended."""
    source = f"sqlite:///{tmp_path / 'a.db'}"
    settings = Settings(data_dir=tmp_path / "data", database_url=source)
    with served(settings) as (world, _registry):
        world.client.headers.update(world.as_("owner"))
        seeds.active_image(world.client, name="one", os_distro="debian")
    engine = create_engine(source)
    with engine.begin() as connection:
        connection.execute(update(artifact_properties).values(value="deb\x00ian"))
    with catalogue("postgresql", tmp_path, "target") as target:
        refused = refusal(copy(source, target))
        assert refused.startswith("Error: artifact_properties: the target refused a row: ")
        assert "NUL" in refused
        assert {name for name, count in rows(target).items() if count} <= SEEDED
        with engine.begin() as connection:
            connection.execute(update(artifact_properties).values(value="debian"))
        assert copy(source, target).exit_code == 0
    engine.dispose()
