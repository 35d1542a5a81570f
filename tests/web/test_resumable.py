"""The UI's resumable uploads (``lading.web.resumable``): tus at /ui/api/uploads/ with the
session's cookie, from the UI's own pages only; what the page serves for its script."""

from __future__ import annotations

import base64
import hashlib
import os

from tests.disk_images import qcow2_header
from tests.web.conftest import AS_SCRIPT, BASE, Site

TUS = {"tus-resumable": "1.0.0"}
OFFSET_TYPE = {"content-type": "application/offset+octet-stream"}


def metadata(**fields: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in fields.items()
    )


def test_the_pages_offer_resumable_uploads_to_their_script(site: Site) -> None:
    site.sign_in("member")
    form = site.browser.get("/ui/upload")
    assert 'data-uploads="/ui/api/uploads/"' in form.text
    assert '<script src="/ui/static/lading.js" defer></script>' in form.text
    script = site.browser.get("/ui/static/lading.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "Tus-Resumable" in script.text and "localStorage" in script.text
    queued = site.image("member")
    page = site.browser.get(f"/ui/artifacts/{queued['id']}")
    assert f'data-artifact="{queued["id"]}"' in page.text and 'data-uploads="' in page.text


def test_a_signed_in_page_uploads_with_tus_and_resumes_from_the_offset(site: Site) -> None:
    site.sign_in("member")
    created = site.browser.post(
        "/ui/api/artifacts",
        data={"filename": "disk.qcow2", "disk_format": "qcow2", "container_format": "bare"},
        headers=AS_SCRIPT,
    )
    artifact = created.json()
    data = qcow2_header() + os.urandom(2 * 1024 * 1024)
    new = site.browser.post(
        "/ui/api/uploads/",
        headers={**AS_SCRIPT, **TUS, "upload-length": str(len(data)),
                 "upload-metadata": metadata(artifact=artifact["id"], filename="disk.qcow2")},
    )  # fmt: skip
    assert new.status_code == 201, new.text
    location = new.headers["location"]
    assert location.startswith("/ui/api/uploads/"), location  # where the cookie goes
    first = site.browser.patch(
        location, content=data[:1000], headers={**AS_SCRIPT, **TUS, **OFFSET_TYPE,
                                                "upload-offset": "0"},
    )  # fmt: skip
    assert first.status_code == 204 and first.headers["upload-offset"] == "1000"
    # A page reloaded asks where the upload stands, then goes on from there.
    held = site.browser.head(location, headers=TUS)
    assert held.status_code == 200 and held.headers["upload-offset"] == "1000"
    rest = site.browser.patch(
        location, content=data[1000:], headers={**AS_SCRIPT, **TUS, **OFFSET_TYPE,
                                                "upload-offset": "1000"},
    )  # fmt: skip
    assert rest.status_code == 204, rest.text
    image = site.browser.get(f"/v2/images/{artifact['id']}", headers=site.api("member")).json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_hash_value"] == hashlib.sha256(data).hexdigest()


def test_only_the_uis_own_pages_and_signed_in_visitors_upload(site: Site) -> None:
    site.sign_in("member")
    create = {**TUS, "upload-length": "3", "upload-metadata": metadata(filename="x.iso",
              disk_format="iso", container_format="bare")}  # fmt: skip
    foreign = site.browser.post(
        "/ui/api/uploads/", headers={**create, "origin": "http://evil.test",
                                     "accept": "application/json"},
    )  # fmt: skip
    assert foreign.status_code == 403  # another site's page, with the visitor's cookie
    unsaid = site.browser.post("/ui/api/uploads/", headers={**create, "accept": "application/json"})
    assert unsaid.status_code == 403  # no Origin nor Referer: not from a page
    made = site.browser.post("/ui/api/uploads/", headers={**AS_SCRIPT, **create})
    assert made.status_code == 201
    location = made.headers["location"]
    # The cookie is the UI's: the API's /uploads/ takes a token, not the cookie.
    upload_id = location.rpartition("/")[2]
    api = site.browser.head(f"{BASE}/uploads/{upload_id}", headers=TUS)
    assert api.status_code == 401
    site.browser.cookies.clear()
    signed_out = site.browser.patch(
        location, content=b"abc", headers={**AS_SCRIPT, **TUS, **OFFSET_TYPE,
                                           "upload-offset": "0"},
    )  # fmt: skip
    assert signed_out.status_code == 401 and "sign in" in signed_out.json()["error"]["message"]
    # Another project's visitor does not find it.
    site.sign_in("other")
    assert site.browser.head(location, headers=TUS).status_code == 404
