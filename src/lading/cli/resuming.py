"""``lading upload`` over tus: a new upload remembered before its first byte, an
interrupted one picked up where the server holds it (``lading.cli.unfinished``).

What ``--resume``/``--no-resume`` mean: neither, resume when a record of this file on this
server fits the file, else start over; ``--resume``, resume or fail saying why (nothing
to resume, the file changed, the server no longer keeps the upload); ``--no-resume``,
drop what an earlier attempt left (its upload and its queued artifact) and start over.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lading.cli.progress import meter
from lading.cli.unfinished import Unfinished, UnfinishedUploads
from lading.client import Artifact, Client
from lading.errors import DigestMismatch, Gone, LadingError, NotFound, ServerUnreachable
from lading.resumable import Offer, Place, Uploads

SIZE = re.compile(r"(\d+)\s*([kmgt]?)(i?b)?", re.IGNORECASE)
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class ByteSize(click.ParamType[int]):
    """A count of bytes: ``67108864``, ``64M``, ``64MiB`` (units of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        found = SIZE.fullmatch(str(value).strip())
        if not found or int(found[1]) < 1:
            self.fail(f"{value!r} is not a size such as 64MiB or 1048576", param, ctx)
        return int(found[1]) * UNITS[found[2].lower()]


def upload_resumably(
    client: Client,
    uploads: Uploads,
    offer: Offer,
    file: Path,
    *,
    fields: Callable[[], dict[str, Any]],
    style: str,
    resume: bool | None,
    kept: UnfinishedUploads,
) -> Artifact:
    """Upload ``file`` into an artifact over tus, resuming an earlier attempt as ``resume``
    says; the artifact once the server holds every byte."""
    earlier = _earlier(client, uploads, file, resume, kept)
    artifact, place = None, None
    if earlier is not None:
        artifact, place = _pick_up(client, uploads, earlier, resume, kept)
        if artifact is not None and artifact.status == "active":
            click.echo(f"the upload of {file} had finished: {artifact.id}", err=True)
            kept.forget(earlier)
            return artifact
    created = artifact is None
    if artifact is None:
        artifact = client.create(**fields())
    size = file.stat().st_size
    if place is None:
        metadata = {"artifact": artifact.id, "filename": file.name}
        try:
            place = uploads.create(offer, size, metadata)
        except BaseException:
            if created:
                forget_artifact(client, artifact)
            raise
        record = Unfinished.of(client.url, file, place.url, artifact.id)
    else:
        assert earlier is not None
        record = earlier
        click.echo(f"resuming the upload of {file} from byte {place.offset} of {size}", err=True)
    if place.expires is not None:
        record = replace(record, expires=place.expires.isoformat())
    kept.keep(record)
    try:
        with meter(f"upload {file.name}", size, style, start=place.offset) as shown:
            sent = uploads.send(
                place, file, checksum=offer.checksum, progress=lambda done: shown.show(done, size)
            )
    except (KeyboardInterrupt, ServerUnreachable) as exc:
        _say_resumable(uploads, record, file, size)
        raise exc
    except LadingError as exc:
        if exc.status >= 500:
            _say_resumable(uploads, record, file, size)
        else:
            abandon(client, uploads, record, kept)
        raise
    kept.forget(record)
    return checked(client, client.show(artifact.id), sent.sha256)


def checked(client: Client, artifact: Artifact, sha256: str) -> Artifact:
    """The artifact, once its digest is the file's as sent, across every run that sent
    it; one whose bytes are not the file's is deleted (it is this command's, and wrong)."""
    if artifact.os_hash_algo != "sha256" or artifact.os_hash_value == sha256:
        return artifact
    with contextlib.suppress(LadingError):
        client.delete(artifact.id)
    raise DigestMismatch(
        f"the server's sha256 of artifact {artifact.id} is {artifact.os_hash_value}, the "
        f"file's as sent {sha256}: the artifact was deleted"
    )


def _earlier(
    client: Client, uploads: Uploads, file: Path, resume: bool | None, kept: UnfinishedUploads
) -> Unfinished | None:
    """The record of an earlier attempt that may be resumed, if any and if asked."""
    earlier = kept.find(client.url, file)
    if earlier is not None and resume is False:
        abandon(client, uploads, earlier, kept)
        return None
    if earlier is not None and not earlier.fits(file):
        if resume:
            raise click.UsageError(
                f"{file} changed since its upload began ({earlier.started}): it cannot "
                "resume; run lading upload without --resume to start over"
            )
        click.echo(f"{file} changed since its upload began: starting over", err=True)
        abandon(client, uploads, earlier, kept)
        return None
    if earlier is None and resume:
        raise click.UsageError(f"no unfinished upload of {file} to {client.url} to resume")
    return earlier


def _pick_up(
    client: Client,
    uploads: Uploads,
    earlier: Unfinished,
    resume: bool | None,
    kept: UnfinishedUploads,
) -> tuple[Artifact | None, Place | None]:
    """The artifact and the upload an earlier attempt left, as far as the server keeps
    them: a queued artifact whose upload is gone takes a new upload of the whole file."""
    try:
        place: Place | None = uploads.place(earlier.url)
    except (NotFound, Gone):
        place = None
    try:
        artifact: Artifact | None = client.show(earlier.artifact)
    except NotFound:
        artifact = None
    if artifact is not None and artifact.status == "active":
        return artifact, None
    if place is None or artifact is None:
        if resume:
            gone = "upload" if place is None else f"artifact {earlier.artifact}"
            raise click.UsageError(
                f"the server no longer keeps the {gone} begun {earlier.started}: run "
                "lading upload without --resume to start over"
            )
        if artifact is not None and artifact.status == "queued":
            kept.forget(earlier)
            return artifact, None
        abandon(client, uploads, earlier, kept)
        return None, None
    return artifact, place


def _say_resumable(uploads: Uploads, record: Unfinished, file: Path, size: int) -> None:
    try:
        held = f"byte {uploads.place(record.url).offset} of {size}"
    except LadingError:
        held = "the last byte the server holds"
    click.echo(
        f"the upload stopped; it resumes from {held} when you run lading upload {file} again",
        err=True,
    )


def abandon(client: Client, uploads: Uploads, record: Unfinished, kept: UnfinishedUploads) -> None:
    """Drop what an attempt left: its upload, its artifact while it waits for data, its
    record. Best effort: the server expires what is left anyway."""
    kept.forget(record)
    with contextlib.suppress(LadingError):
        uploads.terminate(record.url)
    try:
        artifact = client.show(record.artifact)
    except LadingError:
        return
    if artifact.status == "queued":
        forget_artifact(client, artifact)


def forget_artifact(client: Client, artifact: Artifact) -> None:
    """Remove an artifact whose bytes never arrived, so that a failure leaves nothing; one
    that became active after all (the answer was lost, not the upload) is kept."""
    try:
        if client.show(artifact.id).status == "active":
            click.echo(f"the artifact is active all the same: {artifact.id}", err=True)
            return
        client.delete(artifact.id)
    except Exception:  # the first failure is what the user needs to hear about
        click.echo(f"could not remove the unfinished artifact {artifact.id}", err=True)
