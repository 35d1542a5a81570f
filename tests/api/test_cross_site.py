"""Other websites: a Host that names another server is 400 and a change from another
origin's page is 403, on every face, open or not; CORS lets listed origins in (see
``lading.sites`` and ``lading.http.cross_site``).

The server here runs open (no token exists), as a laptop's does: the case where any page a
user visits could otherwise create, delete, share and import.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from lading.sites import Sites, origin_of, serialized
from tests.api.helpers import assert_error, routes_of
from tests.osm_packages import package
from tests.raw_asgi import send

BASE = "http://lading.test"
EVIL = "https://evil.example"
HORIZON = "https://horizon.example.org"
SAFE = {"GET", "HEAD", "OPTIONS", "TRACE"}
IMAGE = '{"name": "planted", "disk_format": "raw", "container_format": "bare"}'


@contextlib.contextmanager
def serving(settings: Settings, base_url: str = BASE) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=base_url) as client:
        yield client


def every_route(client: TestClient) -> Iterator[tuple[str, str]]:
    """Each route's path (its parameters filled in) and each of its methods."""
    for template, methods in routes_of(client.app.routes):  # type: ignore[attr-defined]
        for method in sorted(methods):
            yield method, re.sub(r"\{[^}]*\}", "x", template)


def assert_face_error(path: str, answer: Any, status: int) -> None:
    """The face's own error body: VISoR's, the web UI's (its scripts'), tus's plain text,
    OpenStack's."""
    assert answer.status_code == status, (path, answer.text)
    if answer.request.method == "HEAD":
        return
    if path.startswith(("/visor", "/images")) or path == "/status":  # VISoR's, at the root too
        assert answer.json()["code"] == status
    elif path.startswith("/ui"):
        assert answer.json()["error"]["status"] == status
    elif path.startswith("/uploads"):  # tus has no error body: a line of text, for people
        assert answer.headers["content-type"].startswith("text/plain") and answer.text.strip()
    else:
        assert_error(answer, status)


def nothing_created(client: TestClient, data_dir: Path) -> None:
    assert client.get("/v2/images").json()["images"] == []
    assert client.get("/packages").json() == []
    assert [path for path in data_dir.rglob("*") if path.is_file() and "stores" in path.parts] == []


# -- the host rule


def test_a_foreign_host_is_refused_on_every_face(settings: Settings) -> None:
    with serving(settings) as client:
        assert client.get("/v2/images").status_code == 200
        wrong = []
        for method, path in every_route(client):
            headers = {"accept": "application/json", "origin": "http://rebound.example"}
            answer = client.request(method, f"http://rebound.example{path}", headers=headers)
            try:
                assert_face_error(path, answer, 400)
            except AssertionError:
                wrong.append(f"{answer.status_code} {method} {path}")
        assert not wrong, "\n".join(wrong)
        refused = client.get("http://rebound.example:9292/v2/images")
        assert "does not answer to the host 'rebound.example:9292'" in refused.text


def test_the_default_hosts_are_loopback_the_bound_address_and_the_public_endpoint(
    tmp_path: Path,
) -> None:
    """``allowed_hosts=[]``: the default, whatever the test environment adds."""
    bare = Settings(data_dir=tmp_path / "data", allowed_hosts=[])
    answered = ["http://localhost", "http://127.0.0.1:9292", "http://[::1]:8080",
                "http://127.0.0.2", "http://LOCALHOST.:1"]  # fmt: skip
    refused = ["http://lading.test", "http://localhost.evil.example", "http://evil.example",
               "http://10.1.2.3:9292", "http://0.0.0.0:9292"]  # fmt: skip
    with serving(bare) as client:
        for url in answered:
            assert client.get(f"{url}/versions").status_code == 200, url
        for url in refused:
            assert_error(client.get(f"{url}/versions"), 400)
    bound = bare.model_copy(
        update={"host": "10.1.2.3", "public_endpoint": "https://images.example.org/"}
    )
    with serving(bound) as client:
        for url in ("http://10.1.2.3:9292", "http://images.example.org:8443", "http://localhost"):
            assert client.get(f"{url}/versions").status_code == 200, url
        assert_error(client.get("http://10.1.2.4/versions"), 400)
    wildcard = bare.model_copy(update={"host": "0.0.0.0"})
    with serving(wildcard) as client:
        assert_error(client.get("http://0.0.0.0:9292/versions"), 400)


def test_allowed_hosts_names_domains_networks_and_any(tmp_path: Path) -> None:
    listed = Settings(
        data_dir=tmp_path / "data",
        allowed_hosts=["images.example.org.", ".lab.example", "10.0.0.0/24", "[fd00::1]"],
    )
    with serving(listed) as client:
        for host in ("images.example.org", "lab.example", "a.b.lab.example:81", "10.0.0.7",
                     "[fd00::1]:9292", "IMAGES.example.org"):  # fmt: skip
            assert client.get(f"http://{host}/versions").status_code == 200, host
        for host in ("images.example.org.evil.example", "evillab.example", "10.0.1.7",
                     "[fd00::2]", "example.org"):  # fmt: skip
            assert_error(client.get(f"http://{host}/versions"), 400)
    with serving(listed.model_copy(update={"allowed_hosts": ["*"]})) as client:
        assert client.get("http://anything.example/versions").status_code == 200


def test_hosts_that_are_no_hosts_are_refused(settings: Settings) -> None:
    with serving(settings) as client:
        for host in (b"lading.test@evil.example", b"evil.example/x", b"lading.test:x",
                     b"lading.test:99999", b"", b" ", b"[::1", b"lading.test?a"):  # fmt: skip
            answer = send(client, "GET", b"/versions", host=host)
            assert answer.status == 400, host


@pytest.mark.parametrize("entry", ["lading.test:80", "[lading.test]", "a/b", "", "a b"])
def test_allowed_hosts_holds_no_ports_nor_paths(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        Settings(data_dir=tmp_path, allowed_hosts=[entry])


# -- the origin rule


def test_changes_from_other_origins_are_refused_on_every_face(
    settings: Settings, tmp_path: Path
) -> None:
    """What a page can send without asking first: a text/plain body, a form."""
    with serving(settings) as client:
        wrong = []
        for method, path in every_route(client):
            if method in SAFE:
                continue
            headers = {"origin": EVIL, "content-type": "text/plain", "accept": "application/json"}
            answer = client.request(method, path, content=IMAGE, headers=headers)
            try:
                assert_face_error(path, answer, 403)
            except AssertionError:
                wrong.append(f"{answer.status_code} {method} {path}")
        assert not wrong, "\n".join(wrong)
        nothing_created(client, tmp_path)


@pytest.mark.parametrize(
    "headers",
    [{"origin": EVIL}, {"origin": "null"}, {"origin": "http://lading.test:8080"},
     {"origin": "https://lading.test"}, {"sec-fetch-site": "cross-site"},
     {"origin": BASE, "sec-fetch-site": "cross-site"}],
    ids=["other-site", "null", "other-port", "other-scheme", "fetch-metadata",
         "fetch-metadata-over-origin"],
)  # fmt: skip
def test_forms_and_plain_bodies_from_other_pages_create_nothing(
    settings: Settings, tmp_path: Path, headers: dict[str, str]
) -> None:
    with serving(settings) as client:
        plain = {**headers, "content-type": "text/plain;charset=UTF-8"}
        answers = [
            client.post("/v2/images", content=IMAGE, headers=plain),
            client.post("/v1/images", content=b"x", headers={**headers, "x-image-meta-name": "a"}),
            client.put("/packages/planted-1.0.tar.gz", content=b"x", headers=plain),
            client.post("/api/upload", files={"descriptor": ("p.tar.gz", package())},
                        headers=headers),
            client.post("/click/uploads", data={"name": "com.example.p", "version": "1.0"},
                        files={"file": ("p_1.0.click", b"x")}, headers=headers),
            client.post("/visor/images", content=b"x", headers={**headers,
                        "x-image-meta-name": "a", "x-image-meta-store": "file"}),
        ]  # fmt: skip
        for answer in answers:
            assert answer.status_code == 403, (answer.request.url, answer.text)
        message = answers[0].json()["forbidden"]["message"]
        assert "did not come from lading's own pages" in message
        nothing_created(client, tmp_path)
        assert client.get("/api/package/x/files/").status_code == 404


def test_deleting_and_sharing_from_other_pages_is_refused(settings: Settings) -> None:
    with serving(settings) as client:
        image = client.post("/v2/images", json={"name": "kept"}).json()
        evil = {"origin": EVIL}
        assert client.delete(f"/v2/images/{image['id']}", headers=evil).status_code == 403
        shared = client.post(
            f"/v2/images/{image['id']}/members", content='{"member": "them"}',
            headers={**evil, "content-type": "text/plain"},
        )  # fmt: skip
        assert shared.status_code == 403
        imported = client.post(
            f"/v2/images/{image['id']}/import",
            content='{"method": {"name": "web-download", "uri": "http://127.0.0.1:9/"}}',
            headers={**evil, "content-type": "text/plain"},
        )  # fmt: skip
        assert imported.status_code == 403
        kept = client.get(f"/v2/images/{image['id']}").json()
        assert kept["status"] == "queued" and kept["visibility"] == "shared"
        assert client.get(f"/v2/images/{image['id']}/members").json()["members"] == []
        assert client.get("/v2/tasks").json()["tasks"] == []


def test_own_pages_and_programs_may_change_things(settings: Settings) -> None:
    with serving(settings) as client:
        for headers in ({}, {"origin": BASE}, {"origin": "http://LADING.test:80"},
                        {"sec-fetch-site": "same-origin"},
                        {"origin": BASE, "sec-fetch-site": "same-origin"}):  # fmt: skip
            made = client.post("/v2/images", json={"name": "x"}, headers=headers)
            assert made.status_code == 201, (headers, made.text)
        # Reading is no change: another page may send it (and may not read the answer).
        listed = client.get("/v2/images", headers={"origin": EVIL, "sec-fetch-site": "cross-site"})
        assert listed.status_code == 200 and len(listed.json()["images"]) == 5
        assert not any(name.startswith("access-control-") for name in listed.headers)


def test_a_token_does_not_let_other_pages_in(settings: Settings) -> None:
    with serving(settings) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert client.portal is not None
        token = client.portal.call(services.identities.create, "p", "admin").token
        headers = {"x-auth-token": token, "origin": EVIL, "content-type": "text/plain"}
        assert client.post("/v2/images", content=IMAGE, headers=headers).status_code == 403
        del headers["origin"]
        assert client.post("/v2/images", content=IMAGE, headers=headers).status_code == 201


def test_with_a_public_endpoint_its_origin_is_the_own_one(settings: Settings) -> None:
    public = settings.model_copy(update={"public_endpoint": "https://images.example.org"})
    with serving(public) as client:
        ok = client.post("/v2/images", json={}, headers={"origin": "https://images.example.org"})
        assert ok.status_code == 201
        # The Host is whatever a proxy passed on: the public origin is the only own one.
        assert client.post("/v2/images", json={}, headers={"origin": BASE}).status_code == 403


# -- CORS


def cors_settings(settings: Settings, *origins: str) -> Settings:
    return settings.model_copy(
        update={"cors": settings.cors.model_copy(update={"allowed_origins": list(origins)})}
    )


def cors_headers(answer: Any) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k.startswith("access-control-")}


def test_an_allowed_origin_uploads_as_horizon_does(settings: Settings) -> None:
    """Horizon's direct upload: the browser creates the image, then PUTs its file with
    X-Auth-Token, each after a preflight."""
    with serving(cors_settings(settings, HORIZON, "http://localhost:8000")) as client:
        asked = client.options(
            "/v2/images",
            headers={"origin": HORIZON, "access-control-request-method": "POST",
                     "access-control-request-headers": "content-type,x-auth-token"},
        )  # fmt: skip
        assert asked.status_code == 200
        assert asked.headers["access-control-allow-origin"] == HORIZON
        assert "POST" in asked.headers["access-control-allow-methods"].split(", ")
        allowed = asked.headers["access-control-allow-headers"].split(", ")
        assert {"content-type", "x-auth-token"} <= set(allowed)
        assert asked.headers["access-control-max-age"] == "3600"
        assert "Origin" in asked.headers["vary"]

        made = client.post("/v2/images", json={"name": "h", "disk_format": "raw",
                                               "container_format": "bare"},
                           headers={"origin": HORIZON})  # fmt: skip
        assert made.status_code == 201
        assert made.headers["access-control-allow-origin"] == HORIZON
        exposed = made.headers["access-control-expose-headers"].split(", ")
        for name in ("location", "openstack-image-import-methods", "x-openstack-request-id",
                     "etag", "content-md5", "content-range", "accept-ranges"):  # fmt: skip
            assert name in exposed, name
        image = made.json()["id"]

        octets = {"origin": HORIZON, "content-type": "application/octet-stream"}
        put = client.options(
            f"/v2/images/{image}/file",
            headers={"origin": HORIZON, "access-control-request-method": "PUT",
                     "access-control-request-headers": "X-Auth-Token, Content-Type"},
        )  # fmt: skip
        assert put.status_code == 200
        sent = client.put(f"/v2/images/{image}/file", content=b"data", headers=octets)
        assert sent.status_code == 204
        got = client.get(f"/v2/images/{image}/file", headers={"origin": HORIZON})
        assert got.content == b"data" and got.headers["access-control-allow-origin"] == HORIZON
        # Another listed origin; the port counts.
        other = client.post("/v2/images", json={}, headers={"origin": "http://localhost:8000"})
        assert other.status_code == 201
        unlisted = client.post("/v2/images", json={}, headers={"origin": "http://localhost:8001"})
        assert unlisted.status_code == 403
        # Answered as browsers write the origin, whatever the request's spelling.
        spelt = client.get("/v2/images", headers={"origin": "HTTPS://Horizon.Example.org:443"})
        assert spelt.headers["access-control-allow-origin"] == HORIZON


def test_v1_metadata_headers_are_exposed_and_may_be_sent(settings: Settings) -> None:
    with serving(cors_settings(settings, HORIZON)) as client:
        asked = client.options(
            "/v1/images",
            headers={"origin": HORIZON, "access-control-request-method": "POST",
                     "access-control-request-headers": "x-image-meta-name,x-image-meta-property-a"},
        )  # fmt: skip
        assert asked.status_code == 200
        headers = {"origin": HORIZON, "x-image-meta-name": "v1",
                   "x-image-meta-property-a": "linux"}  # fmt: skip
        made = client.post("/v1/images", headers=headers)
        assert made.status_code == 201, made.text
        head = client.head(f"/v1/images/{made.json()['image']['id']}", headers={"origin": HORIZON})
        exposed = head.headers["access-control-expose-headers"].split(", ")
        assert {"x-image-meta-name", "x-image-meta-property-a"} <= set(exposed)


def test_cors_lets_in_only_its_origins(settings: Settings, tmp_path: Path) -> None:
    with serving(cors_settings(settings, HORIZON)) as client:
        plain = {"origin": EVIL, "content-type": "text/plain"}
        refused = client.post("/v2/images", content=IMAGE, headers=plain)
        assert refused.status_code == 403 and not cors_headers(refused)
        read = client.get("/v2/images", headers={"origin": EVIL})
        assert read.status_code == 200 and not cors_headers(read)
        # Not answered as CORS: the route answers OPTIONS as it always has.
        asked = client.options(
            "/v2/images", headers={"origin": EVIL, "access-control-request-method": "POST"}
        )
        assert not cors_headers(asked)
        # Not even a listed origin under another name may come through a foreign Host.
        rebound = client.post("http://rebound.example/v2/images", json={},
                              headers={"origin": HORIZON})  # fmt: skip
        assert rebound.status_code == 400
        nothing_created(client, tmp_path)


@pytest.mark.parametrize(
    ("method", "asked", "refused"),
    [("PROPFIND", "", "PROPFIND"), ("POST", "x-auth-token, x-evil", "x-evil"),
     ("PUT", "cookie", "cookie")],
)  # fmt: skip
def test_a_preflight_for_what_is_not_allowed_is_refused(
    settings: Settings, method: str, asked: str, refused: str
) -> None:
    with serving(cors_settings(settings, HORIZON)) as client:
        headers = {"origin": HORIZON, "access-control-request-method": method}
        if asked:
            headers["access-control-request-headers"] = asked
        answer = client.options("/v2/images", headers=headers)
        assert_error(answer, 403)
        assert refused in answer.json()["forbidden"]["message"]
        assert "access-control-allow-origin" not in answer.headers


def test_cors_off_sends_no_access_control_headers(settings: Settings) -> None:
    with serving(settings) as client:
        answers = [
            client.options("/v2/images", headers={"origin": HORIZON,
                                                  "access-control-request-method": "POST"}),
            client.get("/v2/images", headers={"origin": HORIZON}),
            client.post("/v2/images", json={}, headers={"origin": HORIZON}),
            client.post("/v2/images", json={}, headers={"origin": BASE}),
            client.get("/versions", headers={"origin": BASE}),
        ]  # fmt: skip
        for answer in answers:
            assert not cors_headers(answer), answer.headers
            assert "origin" not in answer.headers.get("vary", "").lower()
        assert [answer.status_code for answer in answers[2:4]] == [403, 201]


@pytest.mark.parametrize(
    "origin", ["https://horizon.example.org/path", "horizon.example.org", "ftp://h.example", "*"]
)
def test_cors_origins_are_origins(tmp_path: Path, origin: str) -> None:
    with pytest.raises(ValueError, match="CORS origin"):
        Settings(data_dir=tmp_path, cors={"allowed_origins": [origin]})


def test_origins_are_written_as_browsers_write_them() -> None:
    assert serialized(("https", "horizon.example.org", 443)) == HORIZON
    assert serialized(("http", "::1", 8080)) == "http://[::1]:8080"
    assert serialized(origin_of("http://LOCALHOST:80/x") or ("", "", 0)) == "http://localhost"


LAUNCHPAD = "https://launchpad.example.org:8443"


def osm_cors_settings(settings: Settings, *origins: str) -> Settings:
    cors = settings.cors.model_copy(update={"osm_allowed_origins": list(origins)})
    return settings.model_copy(update={"cors": cors})


def test_the_launchpads_origin_may_call_the_osm_face_only(
    settings: Settings, tmp_path: Path
) -> None:
    """The launchpad's UI onboards from its page, with the headers its requests carry;
    the rest of the API stays closed to that page."""
    with serving(osm_cors_settings(settings, LAUNCHPAD)) as client:
        asked = client.options(
            "/api/upload",
            headers={"origin": LAUNCHPAD, "access-control-request-method": "POST",
                     "access-control-request-headers":
                         "Content-Type, Cache-Control, Accept, X-Requested-With, Authorization"},
        )  # fmt: skip
        assert asked.status_code == 200, asked.text
        assert asked.headers["access-control-allow-origin"] == LAUNCHPAD
        sent = client.post("/api/upload", files={"descriptor": ("p.tgz", package())},
                           headers={"origin": LAUNCHPAD})  # fmt: skip
        assert sent.status_code == 200 and sent.headers["access-control-allow-origin"] == LAUNCHPAD
        state = client.get(f"/api/upload/{sent.json()['transaction_id']}/state",
                           headers={"origin": LAUNCHPAD})  # fmt: skip
        assert state.json()["status"] == "success"
        assert state.headers["access-control-allow-origin"] == LAUNCHPAD
        # Elsewhere it is any other site's page.
        refused = client.post("/v2/images", content=IMAGE, headers={"origin": LAUNCHPAD})
        assert refused.status_code == 403 and not cors_headers(refused)
        read = client.get("/v2/images", headers={"origin": LAUNCHPAD})
        assert read.status_code == 200 and not cors_headers(read)
        preflight = client.options(
            "/v2/images", headers={"origin": LAUNCHPAD, "access-control-request-method": "POST"}
        )
        assert not cors_headers(preflight)
        # Another origin, or the launchpad's on another port, is not the launchpad.
        for other in (EVIL, "https://launchpad.example.org"):
            evil = client.post("/api/upload", files={"descriptor": ("p.tgz", package("pong"))},
                               headers={"origin": other})  # fmt: skip
            assert evil.status_code == 403 and not cors_headers(evil)
        assert len(client.get("/v2/images").json()["images"]) == 1


def test_an_osm_origin_is_shared_with_its_paths_only(settings: Settings) -> None:
    sites = Sites.from_settings(osm_cors_settings(settings, LAUNCHPAD))
    origin = origin_of(LAUNCHPAD)
    assert sites.cors and sites.shares_with(origin, "/api") and sites.shares_with(origin, "/api/x")
    assert not sites.shares_with(origin, "/apix") and not sites.shares_with(origin, "/v2/images")
    assert not sites.shares_with(origin_of(EVIL), "/api/upload")


@pytest.mark.parametrize("origin", ["*", "https://launchpad.example.org/ui", "launchpad"])
def test_osm_cors_origins_are_origins(tmp_path: Path, origin: str) -> None:
    with pytest.raises(ValueError, match="CORS origin"):
        Settings(data_dir=tmp_path, cors={"osm_allowed_origins": [origin]})
