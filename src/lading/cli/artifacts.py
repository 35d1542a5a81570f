"""The commands people use every day, on a server's v2 face through ``lading.client``:
upload, download, list, show, update, delete, import, tasks, publish and unpublish."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from oslo_utils.imageutils import format_inspector

from lading.cli.progress import PROGRESS_OPTION, meter
from lading.cli.remote import remote_command
from lading.cli.resuming import ByteSize, forget_artifact, upload_resumably
from lading.cli.unfinished import UnfinishedUploads
from lading.client import Artifact, Client, Task
from lading.display import human_size, name_from_url
from lading.errors import BadRequest, NotFound, TaskFailed
from lading.resumable import Uploads

ID_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The disk format a file's suffix says, so that a plain upload needs no flags.
DISK_FORMATS = {
    ".qcow2": "qcow2", ".img": "raw", ".raw": "raw", ".iso": "iso", ".vmdk": "vmdk",
    ".vhd": "vhd", ".vhdx": "vhdx", ".vdi": "vdi", ".ploop": "ploop",
}  # fmt: skip
# What the server checks the data against: a file whose header says one of these is
# uploaded as it (a cirros .img is a qcow2); anything else goes by its suffix.
DETECTED = ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso")
DETECTION_BYTES = 1024 * 1024  # where those formats keep the headers that tell them
VISIBILITIES = ["public", "private", "shared", "community"]
LIST_COLUMNS = ("id", "name", "version", "status", "size", "visibility", "tags")


def properties(ctx: click.Context, param: click.Parameter, pairs: Sequence[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", ctx, param)
        found[key] = value
    return found


def metadata_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What a new artifact may be given, on upload and import."""
    options = [
        click.option("--name", help="Its name (default: the file's name)."),
        click.option("--version", "version", help="Its version (packages)."),
        click.option(
            "--disk-format",
            help="Default: the file's header (upload), else its suffix (.qcow2, .iso...).",
        ),
        click.option("--container-format", default="bare", show_default=True),
        click.option("--visibility", type=click.Choice(VISIBILITIES)),
        click.option(
            "--property", "props", multiple=True, callback=properties, help="KEY=VALUE, repeatable."
        ),
        click.option("--tag", "tags", multiple=True, help="A tag, repeatable."),
        click.option("--store", help="The store to keep the bytes in (default: the server's)."),
        PROGRESS_OPTION,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def disk_format_of(path: Path) -> str | None:
    """The disk format the file's first bytes say, among those the server checks."""
    with path.open("rb") as file:
        wrapper = format_inspector.InspectWrapper(file)
        try:
            while file.tell() < DETECTION_BYTES and wrapper.read(64 * 1024):
                pass
            wrapper.close()  # what is not told by now is not one of them
            found = str(wrapper.format)
        except format_inspector.ImageFormatError:
            return None  # two formats at once: the server says so
    return found if found in DETECTED else None


def new_fields(file_name: str, path: Path | None = None, **given: Any) -> dict[str, Any]:
    props: dict[str, str] = given.pop("props")
    fields = {key: value for key, value in given.items() if value not in (None, ())}
    fields.setdefault("name", file_name)
    if "version" in fields:  # a package: the package faces serve it by its file name
        fields.setdefault("filename", file_name)
    fields["tags"] = list(fields.get("tags", []))
    if "disk_format" not in fields:
        detected = None if path is None else disk_format_of(path)
        fields["disk_format"] = detected or DISK_FORMATS.get(Path(file_name).suffix.lower(), "raw")
    return fields | props


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@metadata_options
@click.option(
    "--resume/--no-resume",
    default=None,
    help="Resume an interrupted upload of FILE, or fail saying why (--resume); start over "
    "(--no-resume). Default: resume when the file has not changed since.",
)
@click.option(
    "--chunk-size",
    type=ByteSize(),
    default="64MiB",
    show_default=True,
    envvar="LADING_CHUNK_SIZE",
    help="Bytes a request of a resumable upload carries: what a cut-off request re-sends "
    "at most (env LADING_CHUNK_SIZE).",
)
@remote_command
def upload(
    client: Client,
    file: Path,
    store: str | None,
    progress: str,
    resume: bool | None,
    chunk_size: int,
    **given: Any,
) -> None:
    """Upload FILE as a new artifact; prints its id.

    Where the server offers resumable uploads (tus, at /uploads/), the file goes in chunks
    and the upload is remembered in $XDG_STATE_HOME/lading/uploads.json (else
    ~/.local/state/lading): running the same command again after a failure resumes it from
    the last byte the server holds, unless the file changed. Elsewhere, or with --store,
    it goes in one request, as before.
    """
    uploads = Uploads(client, chunk_size=chunk_size)
    # A resumable upload's bytes go to the server's default store: one for another store
    # goes in one request, which names it.
    offer = uploads.offer() if store is None else None
    if offer is not None:
        artifact = upload_resumably(
            client,
            uploads,
            offer,
            file,
            fields=lambda: new_fields(file.name, file, **given),
            style=progress,
            resume=resume,
            kept=UnfinishedUploads(),
        )
        click.echo(artifact.id)
        return
    if resume:
        why = "--store is given" if store else f"{client.url} offers none (tus at /uploads/)"
        raise click.UsageError(f"no resumable upload: {why}")
    artifact = client.create(**new_fields(file.name, file, **given))
    total = file.stat().st_size
    try:
        with meter(f"upload {file.name}", total, progress) as shown:
            artifact = client.upload(
                artifact.id, file, store=store, progress=lambda done: shown.show(done, total)
            )
    except BaseException:
        forget_artifact(client, artifact)
        raise
    click.echo(artifact.id)


@click.command("import")
@click.argument("url")
@metadata_options
@click.option("--no-wait", is_flag=True, help="Print the artifact id and return at once.")
@remote_command
def import_(
    client: Client, url: str, store: str | None, progress: str, no_wait: bool, **given: Any
) -> None:
    """Import URL into a new artifact: the server downloads it as a task; prints the id."""
    name = name_from_url(url) or "import"
    artifact = client.create(**new_fields(name, **given))
    try:
        task = client.import_from(artifact.id, url, store=store)
    except BaseException:
        forget_artifact(client, artifact)
        raise
    if not no_wait:
        try:
            with meter(f"import {name}", task.total_bytes, progress) as shown:

                def report(task: Task) -> None:
                    shown.show(task.done_bytes, task.total_bytes)

                client.wait(task.id, progress=report)
        except TaskFailed:
            forget_artifact(client, artifact)
            raise
        except BaseException:  # the server goes on: say where to look
            click.echo(f"the import goes on: lading tasks {task.id}", err=True)
            raise
    click.echo(artifact.id)


@click.command()
@click.argument("artifact")
@click.option("--version", help="Which version, when ARTIFACT is a name.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (default: its file name, or name, in this folder).",
)
@PROGRESS_OPTION
@remote_command
def download(
    client: Client, artifact: str, version: str | None, output: Path | None, progress: str
) -> None:
    """Download ARTIFACT (an id or a name), resuming an interrupted download of it, and
    check its digest; prints where it went."""
    found = resolve(client, artifact, version)
    path = output or local_name(found)
    if output is None and path.exists():
        raise click.UsageError(f"{path} exists: remove it, or give -o PATH")
    part = path.with_name(f"{path.name}.part")
    with meter(f"download {path.name}", found.size, progress) as shown:
        if part.exists():
            click.echo(f"resuming {part} from byte {part.stat().st_size}", err=True)
        client.download(found.id, path, progress=lambda done: shown.show(done, found.size))
    click.echo(path)


@click.command("list")
@click.option("--name")
@click.option("--version", "version")
@click.option("--status")
@click.option("--visibility", type=click.Choice([*VISIBILITIES, "all"]))
@click.option("--tag", "tags", multiple=True, help="Having this tag, repeatable.")
@click.option("--property", "props", multiple=True, callback=properties, help="KEY=VALUE.")
@click.option("--sort", help="KEY[:asc|desc],... (default: created_at:desc).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the artifacts.")
@remote_command
def list_(
    client: Client, limit: int | None, as_json: bool, props: dict[str, str], **filters: Any
) -> None:
    """List artifacts, newest first: a table, or JSON."""
    query = {key: value for key, value in filters.items() if value not in (None, ())}
    query["tag"] = list(query.pop("tags", []))
    found = []
    for artifact in client.artifacts(query | props, page_size=min(limit or 100, 100)):
        found.append(artifact)
        if len(found) == limit:
            break
    if as_json:
        click.echo(json.dumps([artifact.document for artifact in found], indent=2))
        return
    rows = [[_cell(artifact, column) for column in LIST_COLUMNS] for artifact in found]
    echo_table([column.upper() for column in LIST_COLUMNS], rows)


@click.command()
@click.argument("artifact")
@click.option("--version", help="Which version, when ARTIFACT is a name.")
@click.option("--json", "as_json", is_flag=True, help="The whole v2 document.")
@remote_command
def show(client: Client, artifact: str, version: str | None, as_json: bool) -> None:
    """Show ARTIFACT (an id or a name): its fields and properties."""
    found = resolve(client, artifact, version)
    if as_json:
        click.echo(json.dumps(found.document, indent=2))
        return
    document = {key: value for key, value in found.document.items() if key not in ("schema",)}
    echo_table(["FIELD", "VALUE"], [[key, _text(value)] for key, value in document.items()])


@click.command()
@click.argument("artifact")
@click.option("--name", "new_name", help="A new name.")
@click.option("--version", "new_version", help="A new version.")
@click.option("--visibility", type=click.Choice(VISIBILITIES))
@click.option("--protected/--unprotected", default=None, help="Whether it may be deleted.")
@click.option("--property", "props", multiple=True, callback=properties, help="KEY=VALUE.")
@click.option("--remove-property", "removed", multiple=True, help="A property to remove.")
@click.option("--tag", "tags", multiple=True, help="A tag to add.")
@click.option("--untag", "untags", multiple=True, help="A tag to remove.")
@remote_command
def update(
    client: Client,
    artifact: str,
    props: dict[str, str],
    removed: tuple[str, ...],
    tags: tuple[str, ...],
    untags: tuple[str, ...],
    **changes: Any,
) -> None:
    """Change ARTIFACT's (an id's) fields, properties and tags."""
    found = resolve(client, artifact, None)
    fields = {
        "name": changes["new_name"],
        "version": changes["new_version"],
        "visibility": changes["visibility"],
        "protected": changes["protected"],
    }
    fields = {key: value for key, value in fields.items() if value is not None} | props
    if not (fields or removed or tags or untags):
        raise click.UsageError("nothing to change: give --name, --property, --tag...")
    client.update(found.id, fields, removed, add_tags=tags, remove_tags=untags)
    click.echo(found.id)


@click.command()
@click.argument("artifacts", nargs=-1, required=True)
@remote_command
def delete(client: Client, artifacts: tuple[str, ...]) -> None:
    """Delete ARTIFACTS (ids, or names of a single artifact each)."""
    for given in artifacts:
        found = resolve(client, given, None)
        client.delete(found.id)
        click.echo(f"deleted {found.id}")


@click.command()
@click.argument("task_id", required=False)
@click.option("--status", type=click.Choice(["pending", "processing", "success", "failure"]))
@click.option("--type", "task_type", help="Of this type (api_image_import, osm_onboard...).")
@click.option("--json", "as_json", is_flag=True)
@remote_command
def tasks(
    client: Client, task_id: str | None, status: str | None, task_type: str | None, as_json: bool
) -> None:
    """List tasks, newest first, or show TASK_ID."""
    if task_id is not None:
        task = client.task(task_id)
        click.echo(json.dumps(task.document, indent=2))
        return
    filters = {key: value for key, value in (("status", status), ("type", task_type)) if value}
    found = list(client.tasks(filters))
    if as_json:
        click.echo(json.dumps([task.document for task in found], indent=2))
        return
    headers = ["ID", "TYPE", "STATUS", "PROGRESS", "ARTIFACT", "CREATED", "MESSAGE"]
    echo_table(headers, [_task_row(task) for task in found])


def publishing(published: bool, name: str, summary: str) -> click.Command:
    """``publish`` and ``unpublish``: the same call, either way."""

    @click.command(name, help=summary)
    @click.argument("artifact")
    @remote_command
    def command(client: Client, artifact: str) -> None:
        found = resolve(client, artifact, None)
        client.publish(found.id, published)
        click.echo(f"{name}ed {found.id}")

    return command


publish = publishing(True, "publish", "Publish ARTIFACT for public downloads (administrators).")
unpublish = publishing(
    False, "unpublish", "Withdraw ARTIFACT from public downloads (administrators)."
)


def local_name(artifact: Artifact) -> Path:
    """Its file name or name, if that is a plain name here (whoever named the artifact
    must not choose a path such as ../x or ~/.bashrc); else its id."""
    for name in (artifact.filename, artifact.name):
        if name and Path(name).name == name and not name.startswith("."):
            return Path(name)
    return Path(artifact.id)


def resolve(client: Client, given: str, version: str | None) -> Artifact:
    """The artifact an id, or a name (and version) held by exactly one artifact, names."""
    if ID_SHAPE.fullmatch(given) and version is None:
        return client.show(given)
    filters = {"name": given} | ({"version": version} if version else {})
    found = list(client.artifacts(filters))
    if not found:
        raise NotFound(f"no artifact is named {given!r}" + (f" at {version}" if version else ""))
    if len(found) > 1:
        listed = ", ".join(f"{artifact.id} ({artifact.version or '-'})" for artifact in found[:10])
        raise BadRequest(f"{len(found)} artifacts are named {given!r}; give an id: {listed}")
    return found[0]


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Columns aligned with spaces, which both people and ``awk`` read."""
    table = [list(headers), *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(headers))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _cell(artifact: Artifact, column: str) -> str:
    if column == "size":
        return "-" if artifact.size is None else human_size(artifact.size)
    if column == "tags":
        return ",".join(artifact.tags)
    return _text(getattr(artifact, column))


def _task_row(task: Task) -> list[str]:
    if task.total_bytes:
        done = f"{100 * task.done_bytes // task.total_bytes}%"
    else:
        done = human_size(task.done_bytes) if task.done_bytes else "-"
    artifact = task.artifact_id or "-"
    return [task.id, task.type, task.status, done, artifact, task.created_at, task.message]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)
