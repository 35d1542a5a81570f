"""API tokens: open until the first exists; then every request needs a valid one."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from lading.app import create_app
from lading.clock import Clock
from lading.db.engine import Database
from lading.services import identity
from lading.services.identity import Identities, NewToken
from lading.services.policy import Policy
from lading.settings import Settings
from tests.api.helpers import PATCH_TYPE, assert_error
from tests.portal import call


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def identities(client: TestClient) -> Identities:
    return client.app.state.services.identities  # type: ignore[attr-defined]


def new_token(client: TestClient, role: str = "member") -> NewToken:
    return call(client, identities(client).create, "p1", role)


def expire(settings: Settings, token_id: str) -> None:
    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE api_tokens SET expires_at = :past WHERE id = :id"),
            {"past": Clock().now() - timedelta(seconds=1), "id": token_id},
        )
    engine.dispose()


def test_open_until_the_first_token(app_client: TestClient) -> None:
    assert app_client.get("/v2/images").status_code == 200  # no token: open admin
    token = new_token(app_client).token
    refused = app_client.get("/v2/images")
    assert_error(refused, 401)
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert app_client.get("/v2/images", headers={"x-auth-token": token}).status_code == 200
    bearer = {"authorization": f"Bearer {token}"}
    assert app_client.get("/v2/images", headers=bearer).status_code == 200
    assert app_client.get("/versions").status_code == 200  # discovery needs no token


def test_a_token_acts_for_its_project(app_client: TestClient) -> None:
    token = new_token(app_client).token
    response = app_client.post("/v2/images", json={"name": "mine"}, headers={"x-auth-token": token})
    assert response.status_code == 201 and response.json()["owner"] == "p1"


@pytest.mark.parametrize("case", ["unknown", "revoked", "expired"])
def test_bad_tokens_are_refused(app_client: TestClient, settings: Settings, case: str) -> None:
    good, bad = new_token(app_client).token, new_token(app_client)
    if case == "unknown":
        token = good + "x"
    elif case == "revoked":
        token = bad.token
        call(app_client, identities(app_client).revoke, token)
    else:
        token = bad.token
        expire(settings, bad.record.id)
    response = app_client.get("/v2/images", headers={"x-auth-token": token})
    assert_error(response, 401)
    assert case in response.json()["unauthorized"]["message"]
    assert token not in response.text
    assert app_client.get("/v2/images", headers={"x-auth-token": good}).status_code == 200


def test_revoking_by_id_and_never_reopening(app_client: TestClient) -> None:
    made = call(app_client, identities(app_client).create, "p1", "admin")
    call(app_client, identities(app_client).revoke, made.record.id)
    assert_error(app_client.get("/v2/images"), 401)  # the last token gone: still closed
    assert_error(app_client.get("/v2/images", headers={"x-auth-token": made.token}), 401)


def test_a_revocation_elsewhere_takes_effect_within_the_recheck_time(
    app_client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "TOKEN_RECHECK_SECONDS", 1.0)  # margin for a busy machine
    made = new_token(app_client)
    headers = {"x-auth-token": made.token}
    assert app_client.get("/v2/images", headers=headers).status_code == 200
    database = Database(settings.resolved_database_url)
    anyio.run(Identities(database, "default", Policy()).revoke, made.record.id)  # as the CLI does
    database.dispose()
    assert app_client.get("/v2/images", headers=headers).status_code == 200  # trusted a moment
    time.sleep(1.1)
    assert_error(app_client.get("/v2/images", headers=headers), 401)


def test_tokens_are_never_stored_or_logged_in_clear(
    app_client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = new_token(app_client, "admin").token
    app_client.get("/v2/images", headers={"x-auth-token": token})
    app_client.get("/v2/images", headers={"x-auth-token": token + "wrong"})
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).all()
    engine.dispose()
    assert rows and all(token not in str(row) for row in rows)
    assert token not in caplog.text


def test_a_policy_file_replaces_the_rules_it_names(tmp_path: Path, database_url: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("publicize_image: [member]\nget_images: [member]\n")
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, policy_file=policy)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        member = {"x-auth-token": new_token(client, "member").token}
        reader = {"x-auth-token": new_token(client, "reader").token}
        public = client.post("/v2/images", json={"visibility": "public"}, headers=member)
        assert public.status_code == 201
        assert_error(client.get("/v2/images", headers=reader), 403)
        assert client.get(f"/v2/images/{public.json()['id']}", headers=reader).status_code == 200


def test_a_glance_policy_file_works_unchanged(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """oslo.policy's check strings, rules referring to rules, targets of the artifact, and
    rules lading does not check (Glance's deprecated manage_image_cache) accepted and named
    in the log."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        '"project_reader": "role:reader and project_id:%(project_id)s"\n'
        '"download_image": "role:admin or rule:project_reader"\n'
        '"modify_image": "role:admin or (role:member and not \'ami\':%(disk_format)s)"\n'
        '"cache_list": "role:admin"\n'
        '"manage_image_cache": "role:admin"\n'
    )
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, policy_file=policy)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        member = {"x-auth-token": new_token(client, "member").token}
        reader = {"x-auth-token": new_token(client, "reader").token}
        images = {}
        for disk_format in ("raw", "ami"):
            body = {"disk_format": disk_format, "container_format": "bare"}
            images[disk_format] = created = client.post("/v2/images", json=body, headers=member)
            put = client.put(
                f"/v2/images/{created.json()['id']}/file",
                content=b"x",
                headers={**member, "content-type": "application/octet-stream"},
            )
            assert put.status_code == 204, put.text
        raw, ami = (images[name].json()["id"] for name in ("raw", "ami"))
        assert client.get(f"/v2/images/{raw}/file", headers=reader).content == b"x"
        rename = [{"op": "replace", "path": "/name", "value": "n"}]
        patch = {**member, "content-type": PATCH_TYPE}
        assert client.patch(f"/v2/images/{raw}", json=rename, headers=patch).status_code == 200
        assert_error(client.patch(f"/v2/images/{ami}", json=rename, headers=patch), 403)
    assert "rules lading does not check: manage_image_cache" in caplog.text
