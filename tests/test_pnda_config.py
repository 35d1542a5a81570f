"""PNDA's own pr-config.json (pnda.config): its repository, read as PNDA documents it,
becomes the store "pnda" that the PNDA face serves from; a file lading cannot read is
one line naming it."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from lading.app import create_app
from lading.cli import main
from lading.settings import PNDA_CONFIG_VARIABLE, Settings
from lading.settings_errors import ConfigFileError
from tests.asgi_server import running_asgi
from tests.object_servers import SWIFT_KEY, SWIFT_URL, Bucket, container_keys

FILE = "spark-batch-example-app-1.0.23.tar.gz"
DATA = b"spark batch app " * 4096


def pr_config(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "pr-config.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def swift_repository(container: str, path: str, auth_url: str) -> dict[str, Any]:
    return {
        "SwiftRepository": {
            "access": {"account": "test", "user": "tester", "key": SWIFT_KEY, "auth_url": auth_url},
            "container": {"container": container, "path": path},
        }
    }


def test_fs_repository_is_the_pnda_store(tmp_path: Path) -> None:
    config = pr_config(tmp_path, {"FsRepository": {"location": {"path": "/opt/packages"}}})
    settings = Settings.load(pnda_config=config)
    assert settings.pnda.store == "pnda" and settings.default_store == "default"
    assert settings.stores["pnda"].model_dump(include={"type", "path"}) == {
        "type": "filesystem", "path": Path("/opt/packages")
    }  # fmt: skip


def test_swift_repository_with_tempauth_and_with_keystone() -> None:
    tempauth = read(swift_repository("apps", "releases", f"{SWIFT_URL}/auth/v1.0"))
    assert tempauth.model_dump(include={"auth_url", "auth_version", "user", "key", "prefix"}) == {
        "auth_url": f"{SWIFT_URL}/auth/v1.0", "auth_version": "1", "user": "test:tester",
        "key": SWIFT_KEY, "prefix": "releases/",
    }  # fmt: skip
    # An openrc's OS_AUTH_URL is often Keystone's v2.0: the same Keystone's v3 signs in.
    for url in ("http://keystone:5000/v2.0", "http://keystone:5000/v3/", "http://keystone:5000"):
        keystone = read(swift_repository("apps", "/releases/", url))
        assert keystone.model_dump(
            include={"auth_url", "auth_version", "user", "project", "container", "prefix"}
        ) == {
            "auth_url": "http://keystone:5000/v3", "auth_version": "3", "user": "tester",
            "project": "test", "container": "apps", "prefix": "releases/",
        }  # fmt: skip


def test_s3_repository() -> None:
    store = read(
        {
            "S3Repository": {
                "access": {"region": "eu-west-1", "access_key": "AK", "secret_access_key": "SK"},
                "container": {"bucket": "apps", "path": "releases"},
            }
        }
    )
    assert store.model_dump(
        include={"type", "bucket", "prefix", "region", "access_key", "secret_key", "endpoint_url"}
    ) == {
        "type": "s3", "bucket": "apps", "prefix": "releases/", "region": "eu-west-1",
        "access_key": "AK", "secret_key": "SK", "endpoint_url": None,
    }  # fmt: skip


def read(document: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory() as directory:
        return Settings.load(pnda_config=pr_config(Path(directory), document)).stores["pnda"]


FS = {"FsRepository": {"location": {"path": "/opt/packages"}}}
BAD_FILES: list[tuple[object, str]] = [
    (None, "no such file"),
    ("{nope", "not JSON (Expecting property name enclosed in double quotes, line 1 column 2)"),
    ("[]", "not a JSON object"),
    ({"HdfsRepository": {}}, "unknown repository kind 'HdfsRepository'"),
    ({"port": 8888}, "names no repository"),
    (FS | {"S3Repository": {}}, "names S3Repository and FsRepository"),
    ({"FsRepository": {}}, "FsRepository lacks location.path"),
    (
        {"FsRepository": {"location": {"path": ""}}},
        "FsRepository: location.path must be a non-empty string",
    ),
    ({"SwiftRepository": {"access": {}}}, "SwiftRepository lacks access.auth_url"),
    ({"S3Repository": {"access": {"region": "r"}}}, "S3Repository lacks container.bucket"),
    (
        swift_repository("", "releases", "http://keystone:5000/v3"),
        "SwiftRepository: container.container must be a non-empty string",
    ),
]


@pytest.mark.parametrize(("document", "problem"), BAD_FILES)
def test_a_file_lading_cannot_read_is_one_line(
    tmp_path: Path, document: object, problem: str
) -> None:
    config = tmp_path / "pr-config.json" if document is None else pr_config(tmp_path, document)
    with pytest.raises(ConfigFileError) as raised:
        Settings.load(pnda_config=config)
    assert str(raised.value).startswith(f"{config}: {problem}")
    assert "\n" not in str(raised.value)
    result = CliRunner().invoke(main, ["serve", "--pnda-config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {config}: {problem}")
    assert result.output.count("\n") == 1


def test_the_setting_names_the_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PNDA_CONFIG_VARIABLE, str(tmp_path / "gone.json"))
    with pytest.raises(ConfigFileError, match=r"gone\.json: no such file"):
        Settings()
    toml = tmp_path / "lading.toml"
    toml.write_text(f'[pnda]\nconfig = "{pr_config(tmp_path, FS)}"\nimmutable = true\n')
    monkeypatch.delenv(PNDA_CONFIG_VARIABLE)
    settings = Settings.load(toml)
    assert settings.pnda.store == "pnda" and settings.pnda.immutable


def test_the_pnda_store_name_is_not_taken_twice(tmp_path: Path) -> None:
    config = pr_config(tmp_path, FS)
    result = CliRunner().invoke(
        main,
        ["serve", "--pnda-config", str(config)],
        env={"LADING_STORES": json.dumps({"default": {}, "pnda": {"type": "filesystem"}})},
    )
    assert result.exit_code == 2 and "pnda.config makes the store 'pnda'" in result.output


def test_a_pr_config_given_as_lading_settings_says_where_it_goes(tmp_path: Path) -> None:
    config = pr_config(tmp_path, FS)
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"Error: {config}: not TOML (")
    assert "PNDA's pr-config.json goes to --pnda-config" in result.output


def test_pnda_store_must_be_a_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"pnda\.store 'elsewhere' is not one of the stores"):
        Settings(data_dir=tmp_path, pnda={"store": "elsewhere"})


@pytest.fixture
def fs_lading(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, Path]]:
    packages = tmp_path / "packages"
    config = pr_config(tmp_path, {"FsRepository": {"location": {"path": str(packages)}}})
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, pnda={"config": config}
    )
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield client, packages


def test_fs_repository_served_through_pnda(fs_lading: tuple[TestClient, Path]) -> None:
    client, packages = fs_lading
    served_through_pnda(client)
    stored = [path for path in packages.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in stored) == len(DATA)
    # The other faces keep writing to the default store.
    assert client.post("/v2/images", json={"name": "i"}).status_code == 201


def test_swift_repository_served_through_pnda(
    tmp_path: Path, database_url: str, swift_container: str
) -> None:
    prefix = f"releases-{uuid.uuid4().hex[:8]}"
    config = pr_config(
        tmp_path, swift_repository(swift_container, prefix, f"{SWIFT_URL}/auth/v1.0")
    )
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, pnda={"config": config}
    )
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        served_through_pnda(client)
        keys = [key for key in container_keys(swift_container) if key.startswith(f"{prefix}/")]
        assert keys
        assert client.delete(f"/packages/{FILE}").status_code == 200


@pytest.fixture(scope="module")
def keystone_v3() -> Iterator[str]:
    """Keystone v3 for user tester of project test, whose catalogue leads to the test Swift."""
    with running_asgi("tests.stores.keystone_v3:app", Path(__file__).parents[1], "/v3") as url:
        yield url


def test_keystone_swift_repository_served_through_pnda(
    tmp_path: Path, swift_container: str, keystone_v3: str
) -> None:
    # As an openrc for Keystone v2.0 gives it: OS_AUTH_URL .../v2.0, the project as account.
    prefix = f"keystone-{uuid.uuid4().hex[:8]}"
    document = swift_repository(swift_container, prefix, f"{keystone_v3}/v2.0")
    settings = Settings(data_dir=tmp_path / "data", pnda={"config": pr_config(tmp_path, document)})
    assert settings.stores["pnda"].auth_url == f"{keystone_v3}/v3"  # type: ignore[union-attr]
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        served_through_pnda(client)
        assert any(key.startswith(f"{prefix}/") for key in container_keys(swift_container))


def test_s3_repository_served_through_pnda(tmp_path: Path, s3_bucket: Bucket) -> None:
    prefix = f"releases-{uuid.uuid4().hex[:8]}"
    document = {
        "S3Repository": {
            "access": {
                "region": "us-east-1", "access_key": s3_bucket.access_key,
                "secret_access_key": s3_bucket.secret_key,
                "endpoint_url": s3_bucket.endpoint_url,  # not PNDA's: lading's addition
            },
            "container": {"bucket": s3_bucket.name, "path": prefix},
        }
    }  # fmt: skip
    settings = Settings(data_dir=tmp_path / "data", pnda={"config": pr_config(tmp_path, document)})
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        served_through_pnda(client)
        assert any(key.startswith(f"{prefix}/") for key in container_keys(s3_bucket.name))


def served_through_pnda(client: TestClient) -> None:
    answer = client.put(f"/packages/{FILE}", content=DATA)
    assert answer.status_code == 200, answer.text
    assert client.get("/packages").json() == [
        {
            "name": "spark-batch-example-app",
            "latest_versions": [{"version": "1.0.23", "file": FILE}],
        }
    ]
    got = client.get(f"/packages/{FILE}")
    assert got.status_code == 200 and got.content == DATA
