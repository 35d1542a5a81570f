"""A small client of lading's Click face: sign, upload, publish, download with resume.

It needs only httpx and the standard library; copy it into your service. Run it as

    python click_client.py URL CLIENT SECRET FILE NAME VERSION [OUT]

to upload FILE as package NAME VERSION (public, signed by CLIENT), publish it, and
download it back from the public endpoint into OUT (resuming if OUT is partial).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx


def signature_headers(
    client: str, secret: str, method: str, path: str, fields: dict[str, Any]
) -> dict[str, str]:
    """The four headers that sign a request: see docs/signing.md for the recipe."""
    timestamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    values = {name: _text(value) for name, value in fields.items()}
    pairs = sorted((quote(name, safe=""), quote(value, safe="")) for name, value in values.items())
    text = "\n".join(
        [method, path, timestamp, nonce, client, "&".join(f"{k}={v}" for k, v in pairs)]
    )
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Lading-Client": client,
        "X-Lading-Timestamp": timestamp,
        "X-Lading-Nonce": nonce,
        "X-Lading-Signature": digest,
    }


def _text(value: Any) -> str:
    """A field's value as signed: strings as they are, other JSON values compact."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ClickClient:
    def __init__(self, base_url: str, client: str, secret: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.client, self.secret = client, secret

    def upload(self, path: Path, name: str, version: str, **fields: str) -> dict[str, Any]:
        """Upload a file as a package; its sha256 is signed, so the bytes are bound too."""
        sha256 = hashlib.sha256()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                sha256.update(block)
        form = {"name": name, "version": version, "sha256": sha256.hexdigest(), **fields}
        signed = {**form, "file": path.name}  # the file's field: its name is signed
        headers = signature_headers(self.client, self.secret, "POST", "/click/uploads", signed)
        with path.open("rb") as file:  # httpx streams the file part, fields first
            response = self.http.post(
                "/click/uploads", data=form, files={"file": (path.name, file)}, headers=headers
            )
        response.raise_for_status()
        package: dict[str, Any] = response.json()
        return package

    def publish(self, package_id: str, published: bool = True) -> dict[str, Any]:
        action = "publish" if published else "unpublish"
        path = f"/click/packages/{package_id}/{action}"
        body = {"reason": "reviewed"}
        headers = signature_headers(self.client, self.secret, "POST", path, body)
        response = self.http.post(path, json=body, headers=headers)
        response.raise_for_status()
        package: dict[str, Any] = response.json()
        return package

    def download(self, url_path: str, target: Path, token: str | None = None) -> None:
        """Fetch into ``target``, going on from where a partial file stops."""
        headers = {"X-Auth-Token": token} if token else {}
        done = target.stat().st_size if target.exists() else 0
        if done:
            headers["Range"] = f"bytes={done}-"
        with self.http.stream("GET", url_path, headers=headers) as response:
            if response.status_code == 416:  # nothing left to fetch
                return
            response.raise_for_status()
            mode = "ab" if response.status_code == 206 else "wb"
            with target.open(mode) as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)


def main(
    url: str, client: str, secret: str, file: str, name: str, version: str, out: str = ""
) -> None:
    click = ClickClient(url, client, secret)
    package = click.upload(Path(file), name, version, visibility="public")
    package = click.publish(package["id"])
    target = Path(out or f"{file}.downloaded")
    click.download(package["downloads"]["public"], target)
    print(json.dumps(package, indent=2))
    print(f"downloaded to {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
