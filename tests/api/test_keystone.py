"""Keystone tokens against the real Keystone of scripts/services.sh (users named there).

Each test signs in to Keystone as one of the bootstrapped users and calls lading with
the token, as Nova, Horizon or the glance CLI would after reading the catalogue.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from lading.app import create_app
from lading.db.models import artifacts, tasks
from lading.services import keystone as keystone_module
from lading.services.access import Caller
from lading.services.identity import Identities
from lading.services.keystone import KeystoneTokens
from lading.services.policy import Policy
from lading.settings import KeystoneSettings, Settings, WebhookSettings
from tests.api.helpers import assert_error
from tests.portal import call
from tests.python_dists import wheel

TEST_PASSWORD = "lading-test"  # {alpha,beta}-{member,reader}
IMAGE = {"name": "k", "disk_format": "raw", "container_format": "bare"}


class Token:
    def __init__(self, value: str, body: dict[str, Any]) -> None:
        self.value = value
        self.body = body["token"]

    @property
    def project_id(self) -> str:
        return str(self.body["project"]["id"])

    @property
    def user_id(self) -> str:
        return str(self.body["user"]["id"])


def sign_in(url: str, user: str, password: str, scope: dict[str, Any] | None) -> Token:
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": user, "domain": {"name": "Default"}, "password": password}
            },
        }
    }
    if scope is not None:
        auth["scope"] = scope
    response = httpx.post(f"{url}/auth/tokens", json={"auth": auth}, timeout=30)
    assert response.status_code == 201, response.text
    return Token(response.headers["x-subject-token"], response.json())


def project_scope(name: str) -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"name": "Default"}}}


@pytest.fixture
def token_of(keystone_url: str) -> Callable[..., Token]:
    def make(user: str, scope: dict[str, Any] | None = None) -> Token:
        project = user.split("-")[0]
        return sign_in(keystone_url, user, TEST_PASSWORD, scope or project_scope(project))

    return make


def keystone_settings(tmp_path: Path, auth_url: str, **keystone: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'catalogue.db'}",
        keystone=KeystoneSettings(
            auth_url=auth_url,
            username="lading",
            password="lading",
            project_name="service",
            www_authenticate_uri="http://keystone.example.org:5000",
            **keystone,
        ),
    )


@pytest.fixture
def lading(tmp_path: Path, keystone_url: str) -> Iterator[TestClient]:
    settings = keystone_settings(tmp_path, keystone_url, cache_seconds=1)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield client


def identities(client: TestClient) -> Identities:
    return client.app.state.services.identities  # type: ignore[attr-defined]


def headers(token: Token, service: Token | None = None) -> dict[str, str]:
    found = {"x-auth-token": token.value}
    if service is not None:
        found["x-service-token"] = service.value
    return found


def create(client: TestClient, token: Token, **fields: Any) -> httpx2.Response:
    return client.post("/v2/images", json={**IMAGE, **fields}, headers=headers(token))


def assert_keystone_challenge(response: httpx2.Response) -> None:
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == 'Keystone uri="http://keystone.example.org:5000"'


def test_a_member_token_creates_an_image_owned_by_its_project(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    member = token_of("alpha-member")
    response = create(lading, member)
    assert response.status_code == 201, response.text
    assert response.json()["owner"] == member.project_id
    shown = lading.get(f"/v2/images/{response.json()['id']}", headers=headers(member))
    assert shown.status_code == 200


def rows(settings: Settings, query: Any) -> list[Any]:
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        found = list(connection.execute(query).mappings())
    engine.dispose()
    return found


def test_what_a_keystone_user_makes_records_its_user_and_project(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    """The image's row and its events say who made it; the v2 image does not (Glance has
    no such key); a task shows its user and request as Glance's do, kept in columns."""
    hook = WebhookSettings.model_validate({"url": "http://127.0.0.1:9/", "secret": "s" * 32})
    settings = keystone_settings(tmp_path, keystone_url).model_copy(
        update={"webhooks": {"hook": hook}, "task_poll_interval": 0.02}
    )
    member = token_of("alpha-member")
    admin = sign_in(keystone_url, "admin", "keystone-admin", project_scope("admin"))
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        image = create(client, member).json()
        octets = {**headers(member), "content-type": "application/octet-stream"}
        staged = client.put(f"/v2/images/{image['id']}/stage", content=b"staged", headers=octets)
        assert staged.status_code == 204, staged.text
        asked = client.post(f"/v2/images/{image['id']}/import", headers=headers(member),
                            json={"method": {"name": "glance-direct"}})  # fmt: skip
        assert asked.status_code == 202, asked.text
        # An administrator's image for another project: made by the admin's project.
        for_alpha = create(client, admin, owner=member.project_id).json()
        shown = client.get(f"/v2/images/{image['id']}", headers=headers(member)).json()
        deadline = time.monotonic() + 30
        while (found := client.get(f"/v2/images/{image['id']}/tasks", headers=headers(member))
               ).json()["tasks"][0]["status"] not in ("success", "failure"):  # fmt: skip
            assert time.monotonic() < deadline, found.text
            time.sleep(0.05)
    task = found.json()["tasks"][0]
    assert task["status"] == "success", task
    assert (task["user_id"], task["request_id"]) == (
        member.user_id,
        asked.headers["x-openstack-request-id"],
    )
    assert "_origin" not in task["input"]
    (task_row,) = rows(settings, select(tasks).where(tasks.c.id == task["id"]))
    assert (task_row["user_id"], task_row["request_id"]) == (task["user_id"], task["request_id"])
    assert "_origin" not in task_row["input"]

    assert not {"created_by", "created_by_project", "user_id"} & shown.keys()
    made = {row["id"]: row for row in rows(settings, select(artifacts))}
    assert (made[image["id"]]["created_by"], made[image["id"]]["created_by_project"]) == (
        member.user_id,
        member.project_id,
    )
    assert made[for_alpha["id"]]["owner"] == member.project_id
    assert (made[for_alpha["id"]]["created_by"], made[for_alpha["id"]]["created_by_project"]) == (
        admin.user_id,
        admin.project_id,
    )

    bodies = rows(settings, select(tasks.c.input).where(tasks.c.type == "webhook"))
    events = [json.loads(json.loads(row["input"])["body"]) for row in bodies]
    actors = {(event["type"], event["data"]["id"]): event["actor"] for event in events}
    by_member = {"project_id": member.project_id, "user_id": member.user_id}
    assert actors == {
        ("artifact.created", image["id"]): by_member,
        ("artifact.activated", image["id"]): None,  # the import task's worker
        ("artifact.created", for_alpha["id"]): {
            "project_id": admin.project_id,
            "user_id": admin.user_id,
        },
        ("task.finished", task["id"]): None,
    }
    finished = next(event["data"] for event in events if event["type"] == "task.finished")
    assert (finished["user_id"], finished["request_id"]) == (task["user_id"], task["request_id"])


def test_a_reader_may_read_but_not_write(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    reader = token_of("alpha-reader")
    assert_error(create(lading, reader), 403)
    assert lading.get("/v2/images", headers=headers(reader)).status_code == 200


def test_another_projects_private_image_does_not_exist(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    image = create(lading, token_of("alpha-member"), visibility="private").json()
    beta = token_of("beta-member")
    assert_error(lading.get(f"/v2/images/{image['id']}", headers=headers(beta)), 404)
    listed = lading.get("/v2/images", headers=headers(beta)).json()["images"]
    assert image["id"] not in [found["id"] for found in listed]


def test_a_system_scoped_admin_is_a_cloud_admin(
    lading: TestClient, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    image = create(lading, token_of("alpha-member"), visibility="private").json()
    admin = sign_in(keystone_url, "admin", "keystone-admin", {"system": {"all": True}})
    response = lading.get(f"/v2/images/{image['id']}", headers=headers(admin))
    assert response.status_code == 200, response.text
    deleted = lading.delete(f"/v2/images/{image['id']}", headers=headers(admin))
    assert deleted.status_code == 204


def test_domain_scoped_and_unscoped_tokens_may_do_nothing(
    lading: TestClient, keystone_url: str
) -> None:
    domain = sign_in(keystone_url, "admin", "keystone-admin", {"domain": {"name": "Default"}})
    unscoped = sign_in(keystone_url, "alpha-member", TEST_PASSWORD, None)
    for token in (domain, unscoped):
        assert_error(lading.get("/v2/images", headers=headers(token)), 403)
        assert_error(create(lading, token), 403)
        assert_error(lading.get("/v1/images", headers=headers(token)), 403)
        # What needs no caller still answers, as Glance's discovery does
        assert lading.get("/versions", headers=headers(token)).status_code == 200


def test_unknown_tokens_and_none_are_told_of_keystone(lading: TestClient) -> None:
    assert_keystone_challenge(lading.get("/v2/images", headers={"x-auth-token": "gAAAAAnonsense"}))
    assert_keystone_challenge(lading.get("/v2/images"))  # never open: no anonymous admin
    for hostile in ("a token with spaces", "x" * 9000, "caf\u00e9"):
        token = [(b"x-auth-token", hostile.encode())]  # UTF-8 bytes, as a hostile client sends
        assert_keystone_challenge(lading.get("/v2/images", headers=token))


def test_a_revoked_token_stops_working_within_cache_seconds(
    lading: TestClient, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    member = token_of("alpha-member")
    assert lading.get("/v2/images", headers=headers(member)).status_code == 200
    revoked = httpx.delete(
        f"{keystone_url}/auth/tokens",
        headers={"x-auth-token": member.value, "x-subject-token": member.value},
        timeout=30,
    )
    assert revoked.status_code == 204
    time.sleep(1.1)  # cache_seconds = 1
    assert_keystone_challenge(lading.get("/v2/images", headers=headers(member)))


def test_an_expired_token_is_refused_even_inside_cache_seconds(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    # An application credential caps the expiry of the tokens made with it (Keystone's
    # fix for CVE-2022-2447): a token that expires in a few seconds, without changing
    # Keystone's configuration.
    member = token_of("alpha-member")
    # Long enough for the sign-ins and the app's start on a loaded machine (4 s was not).
    expires_at = datetime.now(UTC) + timedelta(seconds=10)
    created = httpx.post(
        f"{keystone_url}/users/{member.user_id}/application_credentials",
        headers=headers(member),
        json={
            "application_credential": {
                "name": f"short-{time.time_ns()}",
                "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    credential = created.json()["application_credential"]
    auth = {
        "identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": credential["id"], "secret": credential["secret"]},
        }
    }
    signed_in = httpx.post(f"{keystone_url}/auth/tokens", json={"auth": auth}, timeout=30)
    assert signed_in.status_code == 201, signed_in.text
    short = Token(signed_in.headers["x-subject-token"], signed_in.json())
    settings = keystone_settings(tmp_path, keystone_url, cache_seconds=600)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        assert client.get("/v2/images", headers=headers(short)).status_code == 200
        while datetime.now(UTC) < expires_at + timedelta(seconds=0.5):
            time.sleep(0.2)
        assert_keystone_challenge(client.get("/v2/images", headers=headers(short)))


def test_a_service_token_needs_a_service_role(
    lading: TestClient, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    member = token_of("alpha-member")
    service = sign_in(keystone_url, "lading", "lading", project_scope("service"))
    accepted = lading.get("/v2/images", headers=headers(member, service))
    assert accepted.status_code == 200, accepted.text
    other = token_of("beta-member")  # valid, but no service role
    assert_keystone_challenge(lading.get("/v2/images", headers=headers(member, other)))
    bogus = {**headers(member), "x-service-token": "gAAAAAnonsense"}
    assert_keystone_challenge(lading.get("/v2/images", headers=bogus))
    caller = call(lading, identities(lading).authenticate, member.value, service.value)
    assert caller is not None
    assert caller.service_roles == frozenset({"service"})
    assert (caller.project, caller.user) == (member.project_id, member.user_id)


def test_glances_default_policies_for_keystone_roles(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    """A project member deactivates and reactivates its image; a reader sees it but neither
    downloads nor deactivates it; another project's member cannot touch it."""
    member, reader = token_of("alpha-member"), token_of("alpha-reader")
    image = create(lading, member, visibility="shared").json()
    path = f"/v2/images/{image['id']}"
    octets = {**headers(member), "content-type": "application/octet-stream"}
    assert lading.put(f"{path}/file", content=b"k", headers=octets).status_code == 204
    assert lading.get(path, headers=headers(reader)).status_code == 200
    assert_error(lading.get(f"{path}/file", headers=headers(reader)), 403)
    assert_error(lading.post(f"{path}/actions/deactivate", headers=headers(reader)), 403)
    assert_error(
        lading.post(f"{path}/actions/deactivate", headers=headers(token_of("beta-member"))), 404
    )
    for action, status in (("deactivate", "deactivated"), ("reactivate", "active")):
        done = lading.post(f"{path}/actions/{action}", headers=headers(member))
        assert done.status_code == 204, done.text
        assert lading.get(path, headers=headers(member)).json()["status"] == status


def test_a_policy_rule_sees_the_service_token_roles(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    """A Glance policy file may admit a caller by the roles of its X-Service-Token."""
    policy = tmp_path / "policy.yaml"
    policy.write_text('"download_image": "role:admin or (role:reader and service_roles:service)"\n')
    settings = keystone_settings(tmp_path, keystone_url).model_copy(update={"policy_file": policy})
    service = sign_in(keystone_url, "lading", "lading", project_scope("service"))
    member, reader = token_of("alpha-member"), token_of("alpha-reader")
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        image = create(client, member).json()
        path = f"/v2/images/{image['id']}/file"
        octets = {**headers(member), "content-type": "application/octet-stream"}
        assert client.put(path, content=b"k", headers=octets).status_code == 204
        assert_error(client.get(path, headers=headers(reader)), 403)
        assert client.get(path, headers=headers(reader, service)).content == b"k"


def test_v2_17_locations_are_read_with_a_service_token(
    lading: TestClient, token_of: Callable[..., Token], keystone_url: str
) -> None:
    """``fetch_image_location`` is Glance's ``service_api``: a member's own token is not
    enough; with Nova's X-Service-Token (the service role) it is."""
    service = sign_in(keystone_url, "lading", "lading", project_scope("service"))
    member = token_of("alpha-member")
    image = create(lading, member).json()
    octets = {**headers(member), "content-type": "application/octet-stream"}
    put = lading.put(f"/v2/images/{image['id']}/file", content=b"k", headers=octets)
    assert put.status_code == 204
    path = f"/v2/images/{image['id']}/locations"
    assert_error(lading.get(path, headers=headers(member)), 403)
    listed = lading.get(path, headers=headers(member, service))
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 1


def test_keystone_down_is_503_and_known_tokens_keep_working(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    known, unknown = token_of("alpha-member"), token_of("beta-member")
    settings = keystone_settings(tmp_path, keystone_url, cache_seconds=600)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        assert client.get("/v2/images", headers=headers(known)).status_code == 200
        keystone = identities(client).keystone
        assert keystone is not None
        # Keystone goes away: every request to it now meets a closed port (discard).
        keystone._identity.endpoint_override = "http://127.0.0.1:9/v3"
        assert client.get("/v2/images", headers=headers(known)).status_code == 200
        down = client.get("/v2/images", headers=headers(unknown))
        assert_error(down, 503)
        assert down.headers["retry-after"]


def test_an_unreachable_keystone_from_the_start_is_503(
    tmp_path: Path, token_of: Callable[..., Token]
) -> None:
    settings = keystone_settings(tmp_path, "http://127.0.0.1:9/v3")
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        assert_error(client.get("/v2/images", headers=headers(token_of("alpha-member"))), 503)


def test_lading_tokens_keep_working_beside_keystones(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    new = call(lading, identities(lading).create, "lading-project", "member")
    created = lading.post("/v2/images", json=IMAGE, headers={"x-auth-token": new.token})
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == "lading-project"
    revoked = new.token[:-2] + ("AA" if not new.token.endswith("AA") else "BB")
    refused = lading.get("/v2/images", headers={"x-auth-token": revoked})
    assert_error(refused, 401)  # a lading token unknown: never sent to Keystone
    member = token_of("alpha-member")
    assert lading.get("/v2/images", headers=headers(member)).status_code == 200


def test_a_burst_with_a_new_token_asks_keystone_once(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token]
) -> None:
    settings = keystone_settings(tmp_path, keystone_url)
    keystone = KeystoneTokens(settings.keystone, Policy(), "default")
    asked: list[bool] = []
    validate = keystone._validate

    def counted(token: str, service: bool) -> Any:
        asked.append(service)
        return validate(token, service)

    keystone._validate = counted  # type: ignore[method-assign]
    member = token_of("alpha-member")
    callers: list[Caller] = []

    async def burst() -> None:
        async def one() -> None:
            callers.append(await keystone.caller(member.value))

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(one)

    anyio.run(burst)
    assert len(asked) == 1
    assert {caller.project for caller in callers} == {member.project_id}
    assert len(callers) == 10


def test_the_cache_keeps_the_most_recently_used_tokens_only(
    tmp_path: Path, keystone_url: str, token_of: Callable[..., Token], monkeypatch: Any
) -> None:
    monkeypatch.setattr(keystone_module, "MAX_CACHED_TOKENS", 2)
    settings = keystone_settings(tmp_path, keystone_url, cache_seconds=600)
    keystone = KeystoneTokens(settings.keystone, Policy(), "default")
    asked: list[str] = []
    validate = keystone._validate

    def counted(token: str, service: bool) -> Any:
        asked.append(token)
        return validate(token, service)

    keystone._validate = counted  # type: ignore[method-assign]
    first, second, third = (
        token_of(user) for user in ("alpha-member", "beta-member", "beta-reader")
    )

    async def use(*tokens: Token) -> None:
        for token in tokens:
            await keystone.caller(token.value)

    anyio.run(use, first, second, first, third)  # third pushes out second, the least used
    assert asked == [first.value, second.value, third.value]
    anyio.run(use, first, third, second)
    assert asked == [first.value, second.value, third.value, second.value]


def test_a_keystone_token_is_the_password_of_the_python_index(
    lading: TestClient, token_of: Callable[..., Token]
) -> None:
    """twine and pip send Basic credentials: a Keystone token as the password is its
    user's project's member, who uploads and owns the name."""
    member = token_of("alpha-member")
    basic = "Basic " + base64.b64encode(f"__token__:{member.value}".encode()).decode()
    dist = wheel("keystone-demo", "1.0")
    answer = lading.post(
        "/pypi/main/", data=dist.fields(), files={"content": (dist.filename, dist.data)},
        headers={"authorization": basic},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    page = lading.get("/pypi/main/simple/keystone-demo/", headers={"authorization": basic})
    assert dist.filename in page.text
    bad = "Basic " + base64.b64encode(b"__token__:not-a-keystone-token").decode()
    refused = lading.post(
        "/pypi/main/", data=dist.fields(), files={"content": (dist.filename, dist.data)},
        headers={"authorization": bad},
    )  # fmt: skip
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="lading"'
