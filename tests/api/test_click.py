"""The Click face: signed uploads and publishing, the review gate, public and private
downloads. Requests are signed with the example client's code from docs/, so the
documented recipe is the one tested."""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import PATCH_TYPE, assert_error
from tests.portal import call

CLIENT, SECRET = "software-center", "s" * 40
DATA = b"click package bytes " * 100
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "click_client.py"
FILE = "app_1.0.click"
FORM = {"name": "com.example.app", "version": "1.0", "visibility": "public",
        "sha256": hashlib.sha256(DATA).hexdigest()}  # fmt: skip


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("click_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


class Click:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        identities = client.app.state.services.identities  # type: ignore[attr-defined]
        roles = {"admin": ("store", "admin"), "owner": ("store", "member"),
                 "other": ("other", "member")}  # fmt: skip
        self.tokens = {
            name: call(client, identities.create, *grant).token for name, grant in roles.items()
        }

    def as_(self, who: str) -> dict[str, str]:
        return {"x-auth-token": self.tokens[who]}

    def signed(
        self, method: str, path: str, fields: dict[str, Any], **kwargs: str
    ) -> dict[str, str]:
        secret = kwargs.get("secret", SECRET)
        return dict(
            example.signature_headers(kwargs.get("client", CLIENT), secret, method, path, fields)
        )

    def signed_upload(
        self, form: dict[str, str], filename: str = FILE, **kwargs: str
    ) -> dict[str, str]:
        """The file counts as a field whose value is its file name."""
        return self.signed("POST", "/click/uploads", {**form, "file": filename}, **kwargs)

    def upload(
        self,
        data: bytes = DATA,
        /,
        headers: dict[str, str] | None = None,
        filename: str = FILE,
        **fields: str,
    ) -> httpx2.Response:
        form = {**FORM, **fields}
        if headers is None:
            headers = self.signed_upload(form, filename)
        return self.client.post(
            "/click/uploads", data=form, files={"file": (filename, data)}, headers=headers
        )

    def publish(
        self,
        package_id: str,
        action: str = "publish",
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        path = f"/click/packages/{package_id}/{action}"
        body = {"reason": "reviewed"} if body is None else body
        if headers is None:
            headers = self.signed("POST", path, body)
        return self.client.post(path, json=body, headers=headers)

    def count(self) -> int:
        listed = self.client.get("/v2/images", headers=self.as_("admin"))
        return len(listed.json()["images"])


@pytest.fixture
def click(tmp_path: Path, database_url: str) -> Iterator[Click]:
    signing = {"window": 60, "clients": {CLIENT: {"secret": SECRET, "project": "store"}}}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing=signing)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield Click(client)


PUBLIC = "/click/download/public/com.example.app/1.0/app_1.0.click"
PRIVATE = "/click/download/private/com.example.app/1.0/app_1.0.click"


def test_signed_upload_is_unpublished_until_published(click: Click) -> None:
    uploaded = click.upload(sha256=hashlib.sha256(DATA).hexdigest(), channel="stable")
    assert uploaded.status_code == 201, uploaded.text
    package = uploaded.json()
    assert package["status"] == "active" and package["published"] is False
    assert package["owner"] == "store" and package["file"] == "app_1.0.click"
    assert package["md5"] == hashlib.md5(DATA).hexdigest()
    assert package["properties"] == {"channel": "stable"}
    assert package["downloads"] == {"public": PUBLIC, "private": PRIVATE}
    # Unpublished: not on the public endpoint, and no other project sees it anywhere.
    assert_error(click.client.get(PUBLIC), 404)
    assert_error(click.client.get(PRIVATE, headers=click.as_("other")), 404)
    assert_error(click.client.get(f"/v2/images/{package['id']}", headers=click.as_("other")), 404)
    assert click.client.get("/v2/images", headers=click.as_("other")).json()["images"] == []
    # Its owner and admins do.
    assert click.client.get(PRIVATE, headers=click.as_("owner")).content == DATA

    published = click.publish(package["id"])
    assert published.status_code == 200, published.text
    assert published.json()["published"] is True
    public = click.client.get(PUBLIC)
    assert public.status_code == 200 and public.content == DATA
    # A PNDA PUT may replace the file (pnda.immutable is off): caches keep it a minute.
    assert public.headers["cache-control"] == "public, max-age=60"
    assert public.headers["etag"] == f'"{package["md5"]}"'
    resumed = click.client.get(PUBLIC, headers={"range": "bytes=100-"})
    assert resumed.status_code == 206 and resumed.content == DATA[100:]
    private = click.client.get(PRIVATE, headers=click.as_("other"))
    assert private.status_code == 200 and private.headers["cache-control"] == "private, no-cache"
    assert_error(click.client.get(PRIVATE), 401)

    assert click.publish(package["id"], "unpublish").json()["published"] is False
    assert_error(click.client.get(PUBLIC), 404)


def test_publishing_needs_a_signature_or_an_admin(click: Click) -> None:
    package = click.upload().json()
    for who in ("owner", "other"):
        refused = click.publish(package["id"], headers=click.as_(who))
        assert_error(refused, 404 if who == "other" else 403)
    by_admin = click.publish(package["id"], headers=click.as_("admin"))
    assert by_admin.status_code == 200 and by_admin.json()["published"] is True


def test_private_packages_stay_off_the_public_endpoint(click: Click) -> None:
    package = click.upload(visibility="private").json()
    assert click.publish(package["id"]).status_code == 200
    assert_error(click.client.get(PUBLIC), 404)
    assert click.client.get(PRIVATE, headers=click.as_("owner")).status_code == 200
    assert_error(click.client.get(PRIVATE, headers=click.as_("other")), 404)


def test_uploads_with_a_token(click: Click) -> None:
    uploaded = click.upload(headers=click.as_("owner"), visibility="private")
    assert uploaded.status_code == 201 and uploaded.json()["owner"] == "store"
    assert_error(click.upload(headers={}), 401)


def refused_signatures(click: Click) -> dict[str, dict[str, str]]:
    good = click.signed_upload(FORM)
    old = dict(good, **{"X-Lading-Timestamp": str(int(time.time()) - 120)})
    return {
        "wrong secret": click.signed_upload(FORM, secret="t" * 40),
        "unknown client": click.signed_upload(FORM, client="nobody"),
        "altered field": click.signed_upload({**FORM, "version": "2.0"}),
        "altered file name": click.signed_upload(FORM, "other.click"),
        "expired timestamp": old,
        "other path": click.signed("POST", "/click/upload", {**FORM, "file": FILE}),
        "missing header": {k: v for k, v in good.items() if k != "X-Lading-Nonce"},
        "bad nonce": dict(good, **{"X-Lading-Nonce": "short"}),
        "huge timestamp": dict(good, **{"X-Lading-Timestamp": "9" * 400}),
        "signature not hex": dict(good, **{"X-Lading-Signature": "g" * 64}),
        "short signature": dict(good, **{"X-Lading-Signature": "ab"}),
    }


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "unknown client", "altered field", "altered file name",
     "expired timestamp", "other path", "missing header", "bad nonce", "huge timestamp",
     "signature not hex", "short signature"],
)  # fmt: skip
def test_refused_signatures_store_nothing(click: Click, case: str) -> None:
    response = click.upload(headers=refused_signatures(click)[case])
    assert_error(response, 401)
    assert click.count() == 0


def test_a_signature_of_non_ascii_bytes_is_refused(click: Click) -> None:
    headers = [(name.encode(), value.encode()) for name, value in click.signed_upload(FORM).items()]
    headers = [(n, b"\xe9" * 64 if n == b"X-Lading-Signature" else v) for n, v in headers]
    files = {"file": (FILE, DATA)}
    assert_error(click.client.post("/click/uploads", data=FORM, files=files, headers=headers), 401)


def test_replay_is_refused(click: Click) -> None:
    headers = click.signed_upload(FORM)
    assert click.upload(headers=headers).status_code == 201
    assert_error(click.upload(headers=headers), 401)
    assert click.count() == 1


def test_altered_body_is_refused(click: Click) -> None:
    """The file is not in the signature, but its signed sha256 binds it."""
    response = click.upload(DATA + b"tampered")
    assert_error(response, 400)
    assert "sha256" in response.text and click.count() == 0


def test_signed_uploads_need_a_digest_and_no_query(click: Click) -> None:
    form = {key: value for key, value in FORM.items() if key != "sha256"}
    files = {"file": (FILE, DATA)}
    unbound = click.client.post(
        "/click/uploads", data=form, files=files, headers=click.signed_upload(form)
    )
    assert_error(unbound, 400)
    queried = click.client.post(
        "/click/uploads?x=1", data=FORM, files=files, headers=click.signed_upload(FORM)
    )
    assert_error(queried, 400)
    assert click.count() == 0


def test_altered_publish_body_and_replayed_publish_are_refused(click: Click) -> None:
    package = click.upload().json()
    path = f"/click/packages/{package['id']}/publish"
    headers = click.signed("POST", path, {"reason": "reviewed"})
    assert_error(click.publish(package["id"], body={"reason": "forged"}, headers=headers), 401)
    assert click.publish(package["id"], headers=headers).status_code == 200
    unpublish = click.signed("POST", path.replace("publish", "unpublish"), {"reason": "reviewed"})
    assert click.publish(package["id"], "unpublish", headers=unpublish).status_code == 200
    assert_error(click.publish(package["id"], headers=headers), 401)  # the same request again
    assert_error(click.client.get(PUBLIC), 404)  # still unpublished
    surrogate = click.client.post(
        path, content=b'{"reason": "\\ud800"}',
        headers={**click.signed("POST", path, {}), "content-type": "application/json"},
    )  # fmt: skip
    assert_error(surrogate, 400)


def test_a_package_address_is_taken_once(click: Click) -> None:
    first = click.upload().json()
    # another project: the name is the first uploader's, whatever the visibility
    assert_error(click.upload(headers=click.as_("other"), visibility="private"), 403)
    assert_error(click.upload(), 409)  # the same
    rename = {"op": "replace", "path": "/name", "value": "com.example.other"}
    for who in ("owner", "admin"):
        patched = click.client.patch(
            f"/v2/images/{first['id']}", json=[rename],
            headers={**click.as_(who), "content-type": PATCH_TYPE},
        )  # fmt: skip
        assert_error(patched, 403)
    deleted = click.client.delete(f"/v2/images/{first['id']}", headers=click.as_("owner"))
    assert deleted.status_code == 204
    assert_error(click.upload(), 409)  # for good: a cache may still hold the old bytes
    assert click.upload(version="1.1").status_code == 201


def test_a_signing_client_cannot_publish_another_projects_package(click: Click) -> None:
    response = click.upload(headers=click.as_("other"), visibility="private")
    package = response.json()
    assert_error(click.publish(package["id"]), 404)  # unpublished and not its own: unseen


@pytest.mark.parametrize(
    ("filename", "fields"),
    [("../evil.click", {}), ("a\\b.click", {}), ("ok.click", {"name": "a/b"}),
     ("ok.click", {"version": ".."}), ("x" * 256, {}), ("ok.click", {"name": ""})],
)  # fmt: skip
def test_unsafe_names_are_refused(click: Click, filename: str, fields: dict[str, str]) -> None:
    headers = click.signed_upload({**FORM, **fields}, filename)
    assert_error(click.upload(headers=headers, filename=filename, **fields), 400)
    assert click.count() == 0


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode("latin-1")
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not a form", "multipart/form-data; boundary=b0undary", 400),
        (b"{}", "application/json", 400),
        (multipart([("name", None, b"n"), ("version", None, b"1")]), None, 400),  # no file
        (multipart([("file", "a.click", b"x"), ("name", None, b"n")]), None, 400),  # file first
        (multipart([("name", None, b"n" * 70000), ("file", "a.click", b"x")]), None, 413),
        (multipart([("name", None, b"\xff"), ("file", "a.click", b"x")]), None, 400),
        (multipart([("name", None, b"n"), ("name", None, b"m"), ("file", "a", b"x")]), None, 400),
        (multipart([("name", None, b"n"), ("file", "a.click", b"x")])[:-20], None, 400),
        (multipart([("file", "a.click", b"x"), ("version", None, b"1")]), None, 400),  # after
        (multipart([("name", None, b"n"), ("file", "\xff.click", b"x")]), None, 400),
        (
            multipart([("name", None, b"n"), ("file", "a", b"x")], "b" * 100),
            "multipart/form-data; boundary=" + "b" * 100,
            400,
        ),
    ],
)
def test_malformed_forms(click: Click, body: bytes, content_type: str | None, status: int) -> None:
    media_type = content_type or "multipart/form-data; boundary=b0undary"
    headers = {**click.as_("owner"), "content-type": media_type}
    assert_error(click.client.post("/click/uploads", content=body, headers=headers), status)
    assert click.count() == 0
