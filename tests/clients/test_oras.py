"""oras (PyPI's Python client) pushing and pulling files with annotations to a real
``lading serve``'s registry, in monolithic and chunked uploads, with a lading token as the
password; and a referrer (a signature-like artifact) found through the referrers API."""

from __future__ import annotations

from pathlib import Path

import httpx
import oras.oci
import oras.provider
import pytest

from tests.clients.conftest import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ANNOTATIONS = {"org.opencontainers.image.description": "release notes", "org.example.n": "7"}


def registry_client(address: str, token: str) -> oras.provider.Registry:
    client = oras.provider.Registry(hostname=address, insecure=True)
    client.auth.set_basic_auth("any", token)
    return client


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_oras_pushes_and_pulls_files_with_annotations(
    tmp_path: Path, registry_server: Registry, chunked: bool
) -> None:
    repository = f"clients/files-{'chunked' if chunked else 'monolithic'}"  # one per case
    address, lading = registry_server.address, registry_server.lading
    client = registry_client(address, lading.token)
    notes = tmp_path / "notes.txt"
    # Bytes of the case's own: the other case's blob, on the shared server, would spare
    # this one its upload.
    notes.write_bytes(f"{repository}: what changed\n".encode() * 50_000)
    target = f"{address}/{repository}:v1"
    pushed = client.push(
        target=target, files=[str(notes)], disable_path_validation=True,
        manifest_annotations=ANNOTATIONS, do_chunked=chunked, chunk_size=64 * 1024,
        quiet=True,
    )  # fmt: skip
    assert pushed.status_code == 201
    manifest = client.get_manifest(target)
    assert manifest["annotations"] == ANNOTATIONS
    out = tmp_path / "out"
    files = client.pull(target=target, outdir=str(out))
    assert [Path(file).name for file in files] == ["notes.txt"]
    assert (out / "notes.txt").read_bytes() == notes.read_bytes()

    # A second artifact naming the first as its subject: a referrer.
    digest = pushed.headers["docker-content-digest"]
    size = len(httpx.get(
        f"http://{address}/v2/{repository}/manifests/v1", auth=("any", lading.token)
    ).content)  # fmt: skip
    subject = oras.oci.Subject(OCI_MANIFEST, digest, size)
    signature = tmp_path / "signature.sig"
    signature.write_bytes(b"signed")
    signed = client.push(
        target=f"{address}/{repository}:sig", files=[str(signature)],
        disable_path_validation=True, subject=subject, quiet=True,
    )  # fmt: skip
    assert signed.headers["oci-subject"] == digest
    referrers = httpx.get(
        f"http://{address}/v2/{repository}/referrers/{digest}", auth=("any", lading.token)
    ).json()
    found = [entry["digest"] for entry in referrers["manifests"]]
    assert found == [signed.headers["docker-content-digest"]]
