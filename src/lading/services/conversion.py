"""Glance's ``image_conversion`` import plugin: an import's disk image, converted.

With ``[image_conversion] output_format`` set (``raw`` for a Ceph-backed cloud, say), an
import (web-download, glance-direct, copy-from) whose data is a disk image of another
format is converted with ``qemu-img convert`` once its data is in the first store, before
it is copied to the others: the converted image replaces the data, with its own size,
digests and virtual size, and the image's ``disk_format`` becomes the output format.

qemu-img only ever reads data the inspection accepted: the bytes were inspected as they
arrived (lading.services.inspection), so an image with a backing file or extents
elsewhere was refused before this. The source format is told to qemu-img (``-f``), never
probed. The converted output is inspected in turn, as the data of the new format.
Conversion works in ``<data_dir>/conversions``, which needs room for the image twice
(its data and the output) while it runs.
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from sqlalchemy import Connection

from lading.db import imports as queries
from lading.db.blobs import Blob
from lading.db.engine import Database
from lading.domain import Artifact
from lading.errors import LadingError, TooLarge
from lading.services.catalogue import Catalogue
from lading.services.inspection import INSPECTED_CONTAINERS
from lading.services.tasks import Progress
from lading.services.transfers import Transfers
from lading.settings import Settings

# The disk formats qemu-img converts from (ISO, ami, ari and aki are left as they are,
# as Glance leaves them); qemu-img's own name where it differs.
CONVERTIBLE = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi")
QEMU_NAMES = {"vhd": "vpc"}
STDERR_SHOWN = 500  # characters of qemu-img's complaint told in the task's message


class Conversion:
    def __init__(
        self, settings: Settings, database: Database, catalogue: Catalogue, transfers: Transfers
    ) -> None:
        self._settings = settings
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers

    def wanted(self, artifact: Artifact) -> bool:
        """Whether the import of ``artifact``, its data in place, converts it."""
        target = self._settings.image_conversion.output_format
        return (
            target is not None
            and artifact.disk_format in CONVERTIBLE
            and artifact.disk_format != target
            and artifact.container_format in INSPECTED_CONTAINERS
            and bool(artifact.locations)
        )

    async def convert(self, artifact: Artifact, progress: Progress) -> None:
        """Replace the importing artifact's data with its conversion to the output format."""
        target = self._settings.image_conversion.output_format
        assert target is not None and artifact.disk_format is not None
        cap, virtual_size = self._settings.image_size_cap, artifact.virtual_size or 0
        if target == "raw" and virtual_size > cap:
            # Known from the header: refused before qemu-img writes it out.
            raise TooLarge(f"converted to raw, the image would hold {virtual_size} bytes, "
                           f"more than the limit of {cap}")  # fmt: skip
        folder = anyio.Path(self._settings.data_dir / "conversions")
        await folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        source = Path(folder / f"{name}.{artifact.disk_format}")
        output = Path(folder / f"{name}.{target}")
        try:
            await progress.report(0, artifact.size, f"Reading the {artifact.disk_format} image")
            async with await anyio.open_file(source, "wb") as file:
                async for chunk in self._transfers.read_data(artifact):
                    await file.write(chunk)
            await progress.report(
                0, artifact.size, f"Converting {artifact.disk_format} to {target}"
            )
            await self._run_qemu_img(artifact.disk_format, target, source, output)
            await self._keep(artifact, target, output)
        finally:
            with anyio.CancelScope(shield=True):
                for path in (source, output):
                    await anyio.Path(path).unlink(missing_ok=True)

    async def _run_qemu_img(
        self, source_format: str, target: str, source: Path, output: Path
    ) -> None:
        command = [
            "qemu-img", "convert", "-q",
            "-f", QEMU_NAMES.get(source_format, source_format),
            "-O", QEMU_NAMES.get(target, target),
            str(source), str(output),
        ]  # fmt: skip
        try:
            await anyio.run_process(command, check=True)
        except FileNotFoundError as exc:
            raise LadingError(
                "converting images needs qemu-img (Debian's qemu-utils), which is not installed"
            ) from exc
        except subprocess.CalledProcessError as exc:
            said = (exc.stderr or b"").decode(errors="replace").strip()[:STDERR_SHOWN]
            raise LadingError(
                f"qemu-img could not convert the {source_format} image to {target}: {said}"
            ) from exc

    async def _keep(self, artifact: Artifact, target: str, output: Path) -> None:
        """The converted file becomes the artifact's data, in the store the data was in,
        in one transaction with the release of the data it replaces."""
        replaced = await self._database.read(queries.blob_ids, artifact.id)
        doomed: list[Blob] = []

        def converted(connection: Connection) -> None:
            doomed.extend(queries.converted(connection, artifact.id, replaced, target))

        await self._transfers.import_data(
            dataclasses.replace(artifact, disk_format=target),
            self._chunks(output),
            artifact.locations[0].store,
            on_active=converted,
        )
        with anyio.CancelScope(shield=True):
            await self._catalogue.discard(doomed)

    async def _chunks(self, path: Path) -> AsyncIterator[bytes]:
        async with await anyio.open_file(path, "rb") as file:
            while chunk := await file.read(self._settings.chunk_size):
                yield chunk
