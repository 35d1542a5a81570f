"""Hostile names and headers against every path parameter of every face and against the
metadata headers: traversal (plain, encoded, double-encoded, backslashes, overlong
UTF-8), NUL and control characters, 64 KiB names, invalid UTF-8, CR/LF header
injection. Sent raw, as a server hands them to the app (bytes HTTP clients refuse to
send included: see ``tests.raw_asgi``). Every answer is a 4xx, no answer carries an
injected header, and nothing is written: not outside the data directory, not in the
store.

The one exception is a tag, which is a label, not a path: ``..`` or U+FFFD (what invalid
UTF-8 decodes to) are tags like any other, and are then shown back exactly as given.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from tests.api.helpers import routes_of
from tests.api.seeds import (
    Pools,
    seed_click,
    seed_images,
    seed_osm,
    seed_pnda,
    seed_pypi,
    seed_service,
    world_settings,
)
from tests.portal import call
from tests.raw_asgi import HOST, RawAnswer, send

TRAVERSAL = [b"..", b"%2e%2e", b"../../../etc/passwd", b"..%2F..%2F..%2Fetc%2Fpasswd",
             b"%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"%252e%252e%252f%252e%252e%252fetc",
             b"..%5C..%5C..%5Cboot.ini", b"%c0%ae%c0%ae%c0%af%c0%ae%c0%ae", b"....//....//etc",
             b"%2e%2e%5c%2e%2e%5cboot.ini"]  # fmt: skip
CONTROL = [b"a%00b", b"%00", b"a%01b", b"a%1Fb", b"a%7Fb", b"a\x01b", b"a%C2%85b", b"a%09b"]
INJECTION = [b"a%0D%0AX-Injected:%20yes", b"a%0Ax-injected:%20yes", b"%0D%0A%0D%0A<html>"]
LONG = [b"a" * 65536, b"%41" * 21846]
NOT_UTF8 = [b"%FF%FE", b"\xff\xfe", b"%ED%A0%80", b"%C3", b"%C3%28"]
CORPUS = {"traversal": TRAVERSAL, "control": CONTROL, "injection": INJECTION, "long": LONG,
          "not-utf8": NOT_UTF8}  # fmt: skip
# Where a name is a label, not a path: these may be taken as they decode (an image's tag;
# a metadata definition's namespace, object, property or tag name).
LABELS = {
    (name, kind) for name in ("tag", "name", "namespace") for kind in ("traversal", "not-utf8")
}
BAD_VALUES = [b"a\r\nX-Injected: yes", b"a\nx-injected: yes", b"a\x00b", b"a\x01b", b"\xff\xfe",
              b"a" * 65536]  # fmt: skip
# And for numbers: past int()'s 4,300 digits, a digit to str.isdigit() but not to int(), a
# fullwidth 1.
BAD_NUMBERS = [b"9" * 5000, "\u00b2".encode(), "\uff11".encode(), b"1e3", b"-1"]
NUMERIC = {b"x-image-meta-min_disk", b"x-image-meta-min_ram", b"x-image-meta-size"}
# Header metadata, per face: the headers each write request reads, and the requests.
META_HEADERS = {
    "/v1": [b"x-image-meta-name", b"x-image-meta-disk_format", b"x-image-meta-owner",
            b"x-image-meta-property-os_distro", b"x-image-meta-location",
            b"x-glance-api-copy-from", b"x-image-meta-checksum", b"x-image-meta-size",
            b"x-image-meta-min_disk", b"x-image-meta-min_ram", b"x-image-meta-protected",
            b"x-image-meta-is_public"],
    "/visor": [b"x-image-meta-name", b"x-image-meta-architecture", b"x-image-meta-store",
               b"x-image-meta-description", b"x-image-meta-location", b"x-image-meta-_id",
               b"x-image-meta-size", b"x-image-meta-access", b"x-image-meta-format",
               b"x-image-meta-checksum", b"x-image-meta-kernel"],
}  # fmt: skip
# Header names that are not tokens, or name nothing (VISoR takes any attribute name, so
# ``property-`` is one there).
BAD_NAMES = {
    "/v1": [b"x-image-meta-property-a\x01b", b"x-image-meta-property-a b", b"x-image-meta-",
            b"x-image-meta-property-", b"x-image-meta-property-" + b"p" * 65536],
    "/visor": [b"x-image-meta-a\x01b", b"x-image-meta-a:b", b"x-image-meta-",
               b"x-image-meta-_secret", b"x-image-meta-" + b"p" * 65536],
}  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    """lading with its data directory a level down in tmp_path, so that whatever escapes
    it lands where it can be seen, and an administrator's token."""
    settings = world_settings(tmp_path / "inside" / "data", tmp_path / "inside" / "catalogue.db")
    (tmp_path / "inside").mkdir()
    with TestClient(create_app(settings), base_url=f"http://{HOST.decode()}") as client:
        identities = client.app.state.services.identities  # type: ignore[attr-defined]
        token = call(client, identities.create, "hostile", "admin").token
        client.headers.update({"x-auth-token": token, "origin": f"http://{HOST.decode()}"})
        yield client, tmp_path


def seed(client: TestClient, face: str) -> Pools:
    """What the face's path parameters may name (``tests.api.seeds``)."""
    match face:
        case "/packages":
            return seed_pnda(client, 0)
        case "/click":
            return seed_click(client, 0)
        case "/api":
            return seed_osm(client, 0)
        case "/openapi":
            return seed_service(client)
        case "/pypi":
            return seed_pypi(client)
    return seed_images(client)


def parameters(path: str) -> list[str]:
    return [part.split("}")[0].split(":")[0] for part in path.split("{")[1:]]


def fill(path: str, values: dict[str, bytes]) -> bytes:
    target = path.encode()
    for name, value in values.items():
        target = target.replace(b"{%s:path}" % name.encode(), value)
        target = target.replace(b"{%s}" % name.encode(), value)
    return target


def written(root: Path, store: bool = True) -> set[Path]:
    """Every file under ``root``, the catalogue's own files aside (and the store's, unless
    ``store``). A store's scratch files (``.tmp``) come and go with uploads in flight."""
    stores = root / "inside" / "data" / "stores"
    return {path for path in root.rglob("*") if path.is_file() and ".db" not in path.name
            and ".tmp" not in path.relative_to(root).parts
            and (store or not path.is_relative_to(stores))}  # fmt: skip


def escaped(root: Path) -> list[Path]:
    """What the corpus's traversals aim at, found beside the test's directory or in it."""
    names = {"etc", "passwd", "boot.ini", "evil", "evil_1.0.click"}
    return [path for path in [*root.parent.iterdir(), *root.rglob("*")] if path.name in names]


def injected(answer: RawAnswer) -> bool:
    return any(b"injected" in name or b"\n" in value or b"\r" in value
               for name, value in answer.headers)  # fmt: skip


@pytest.mark.parametrize("face", [pytest.param("/v2", marks=pytest.mark.heavy),  # every field
                                  "/v1", "/visor", "/packages", "/click", "/api", "/ui",
                                  "/openapi", "/pypi", "/uploads"])  # fmt: skip
def test_hostile_names_are_refused_and_write_nothing(
    world: tuple[TestClient, Path], face: str
) -> None:
    client, root = world
    pools = seed(client, face)
    before = written(root)
    routes = [(path, methods) for path, methods in routes_of(client.app.routes)  # type: ignore[attr-defined]
              if path.startswith(face) and parameters(path)]  # fmt: skip
    assert routes, face
    wrong, sent = [], 0
    for path, methods in routes:
        for name in parameters(path):
            others = {other: pools[other][0].encode() for other in parameters(path)}
            for kind, corpus in CORPUS.items():
                for hostile in corpus:
                    target = fill(path, others | {name: hostile})
                    for method in sorted(methods):
                        answer = send(client, method, target, octets(client), b"x")
                        sent += 1
                        label = (name, kind) in LABELS and answer.status in (200, 201, 204)
                        if not (400 <= answer.status < 500 or label) or injected(answer):
                            wrong.append(f"{answer.status} {method} {target[:120]!r}")
    assert not wrong, "\n".join(wrong)
    assert sent > 0
    assert written(root) == before  # nothing new: not in the store, not beside it
    assert escaped(root) == []


def octets(client: TestClient) -> list[tuple[bytes, bytes]]:
    return [(b"x-auth-token", client.headers["x-auth-token"].encode()),
            (b"origin", client.headers["origin"].encode()),
            (b"content-type", b"application/octet-stream")]  # fmt: skip


def test_hostile_tags_are_labels_shown_back_as_given(world: tuple[TestClient, Path]) -> None:
    client, _ = world
    image = seed_images(client)["image_id"][0]
    for raw, decoded in ((b"..", ".."), (b"%2e%2e", ".."), (b"%FF%FE", "\ufffd\ufffd"),
                         (b"..%5C..%5Cboot.ini", "..\\..\\boot.ini")):  # fmt: skip
        assert send(client, "PUT", b"/v2/images/%s/tags/%s" % (image.encode(), raw),
                    octets(client)).status == 204  # fmt: skip
        assert decoded in client.get(f"/v2/images/{image}").json()["tags"]


@pytest.mark.parametrize("face", ["/v1", "/visor"])
def test_hostile_metadata_headers_are_refused(world: tuple[TestClient, Path], face: str) -> None:
    client, root = world
    image = seed_images(client)["image_id"][0].encode()
    before = written(root)
    listed = {image["id"] for image in client.get("/v2/images").json()["images"]}
    shown = client.get(f"/v2/images/{image.decode()}").json()
    wrong = []
    for method, target in (("POST", b"%s/images" % face.encode()),
                           ("PUT", b"%s/images/%s" % (face.encode(), image))):  # fmt: skip
        for name in META_HEADERS[face]:
            for value in BAD_VALUES + (BAD_NUMBERS if name in NUMERIC else []):
                answer = send(client, method, target, [*octets(client)[:2], (name, value)])
                if not 400 <= answer.status < 500 or injected(answer):
                    wrong.append(f"{answer.status} {method} {target!r} {name!r}: {value[:40]!r}")
        for name in BAD_NAMES[face]:
            answer = send(client, method, target, [*octets(client)[:2], (name, b"x")])
            if not 400 <= answer.status < 500 or injected(answer):
                wrong.append(f"{answer.status} {method} {target!r} {name[:40]!r}")
    assert not wrong, "\n".join(wrong)
    assert {image["id"] for image in client.get("/v2/images").json()["images"]} == listed
    assert client.get(f"/v2/images/{image.decode()}").json() == shown  # nothing changed
    assert written(root) == before


V2_DATA_HEADERS = [(b"x-image-meta-store", b"default\r\nX-Injected: yes"),
                   (b"x-image-meta-store", b"a\x00b"), (b"content-length", b"1\r\n2"),
                   (b"x-openstack-image-size", b"1\r\nX-Injected: yes"),
                   (b"range", b"bytes=0-1\r\nX-Injected: yes")]  # fmt: skip
CLICK_FILES = ["../../../evil_1.0.click", "..", "a\x00b.click", "a\x01b.click", "x" * 65536,
               "..\\..\\evil.click", "evil/1.0.click", "a\x85b.click"]  # fmt: skip


def test_hostile_headers_on_v2_data(world: tuple[TestClient, Path]) -> None:
    """No 5xx and nothing injected; an upload may be taken (with one store, the store
    header is not read), but nothing is written beside the store."""
    client, root = world
    queued = seed_images(client)["image_id"][0].encode()
    before = written(root, store=False)
    for header, value in V2_DATA_HEADERS:
        for method in ("PUT", "GET"):
            answer = send(client, method, b"/v2/images/%s/file" % queued,
                          [*octets(client), (header, value)], b"x")  # fmt: skip
            assert answer.status < 500 and not injected(answer), (header, value, answer)
    assert written(root, store=False) == before


def test_click_uploads_with_hostile_file_names_are_refused(world: tuple[TestClient, Path]) -> None:
    client, root = world
    before = written(root)
    part = b'--hostile\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
    headers = [*octets(client)[:2], (b"content-type", b"multipart/form-data; boundary=hostile")]
    for filename in CLICK_FILES:
        body = (part % (b"name", b"", b"com.example.evil") + part % (b"version", b"", b"1.0")
                + part % (b"file", b'; filename="%s"' % filename.encode(), b"data")
                + b"--hostile--\r\n")  # fmt: skip
        answer = send(client, "POST", b"/click/uploads", headers, body)
        assert 400 <= answer.status < 500 and not injected(answer), (filename[:40], answer)
    assert written(root) == before
    assert escaped(root) == []


LISTINGS = ["/v2/images", "/v2/tasks", "/v1/images", "/v1/images/detail", "/visor/images",
            "/visor/images/detail", "/packages", "/ui/"]  # fmt: skip
QUERIES = {
    "2,000 property filters": "&".join(f"p{n}=v" for n in range(2000)),
    "2,000 tags": "&".join(f"tag=t{n}" for n in range(2000)),
    "2,000 v1 property filters": "&".join(f"property-p{n}=v" for n in range(2000)),
    "500 sort keys": "&".join(["sort_key=name"] * 500) + "&marker={marker}",
    "500 sort keys in one": "sort=" + ",".join(["name"] * 500) + "&marker={marker}",
    "10,000 values": "name=in:" + ",".join(f"n{n}" for n in range(10000)),
    "10,000 limits": "&".join(["limit=1"] * 10000),
    "64 KiB value": "name=" + "n" * 65536,
    "64 KiB name": "n" * 65536 + "=v",
    "bad escapes": "name=%zz&%ff=%fe&a%00b=c&d=%00&sort=%ED%A0%80",
}


def test_hostile_query_strings_on_every_listing(world: tuple[TestClient, Path]) -> None:
    """No 5xx and no long work, whatever the query string asks of a listing."""
    client, _ = world
    marker = seed_images(client)["image_id"][1]
    wrong = []
    for path in LISTINGS:
        for what, query in QUERIES.items():
            started = time.monotonic()
            target = f"{path}?{query.replace('{marker}', marker)}".encode()
            answer = send(client, "GET", target, octets(client)[:1])
            seconds = time.monotonic() - started
            if answer.status >= 500 or seconds > 5:
                wrong.append(f"{answer.status} in {seconds:.1f} s: {path} with {what}")
    assert not wrong, "\n".join(wrong)
