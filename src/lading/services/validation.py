"""What a caller may set on an artifact, and in what form: the metadata rules.

Every face hands its request to the catalogue as ``Changes``; the rules below are
checked once there, so no face can store what another would refuse.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from lading.domain import CONTAINER_FORMATS, DISK_FORMATS, Artifact, Status, Visibility
from lading.errors import BadRequest, Forbidden, TooLarge
from lading.services.access import Caller
from lading.services.name_rules import package_address
from lading.services.protections import Operation
from lading.settings import QuotaSettings

MAX_NAME = 255
MAX_PROPERTY_VALUE = 65535
MAX_INT = 2**31 - 1
RESERVED_PREFIX = "os_glance"
READ_ONLY_FIELDS = frozenset(
    {
        "id", "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
        "created_at", "updated_at", "deleted_at", "published",
    }
)  # fmt: skip
WRITABLE_FIELDS = frozenset(
    {
        "name", "version", "owner", "visibility", "protected", "os_hidden", "disk_format",
        "container_format", "min_disk", "min_ram", "filename",
    }
)  # fmt: skip
BASE_FIELDS = READ_ONLY_FIELDS | WRITABLE_FIELDS
# What the data is: once an artifact has left queued, only administrators may change these.
CORE_FIELDS = frozenset({"disk_format", "container_format", "version"})
# Keys that artifact documents compute (links, where the data is): never properties.
COMPUTED_NAMES = frozenset({"self", "file", "schema", "direct_url", "locations", "stores"})
# Names a property may not take: the computed keys, and tags (a list of their own).
RESERVED_NAMES = COMPUTED_NAMES | {"tags"}
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Well-known properties whose values have a format (Glance's image schema).
PROPERTY_FORMATS = {"kernel_id": UUID_PATTERN, "ramdisk_id": UUID_PATTERN}
# Control characters (C0, DEL, C1): a tag, a one-line label that comes in a URL path
# too (PUT /v2/images/{id}/tags/{tag}), may not hold them, where a line break only
# means mischief.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A package's name, version and file name make its download URLs: once it has a file name,
# none of them changes.
ADDRESS_FIELDS = ("name", "version", "filename")


@dataclass(slots=True)
class Changes:
    """What a caller asks to set: base fields, the whole property set, the tags."""

    fields: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    tags: list[Any] | None = None

    @classmethod
    def of_document(cls, document: Mapping[str, Any]) -> Changes:
        """A Glance v2 image document's base fields, properties and tags (no ``id``)."""
        rest = {key: value for key, value in document.items() if key != "tags"}
        fields = base_fields(rest)
        properties = {key: value for key, value in rest.items() if key not in fields}
        return cls(fields, properties, document.get("tags", []))


def new_id(requested: Any) -> str:
    """A new artifact's id: the caller's UUID in canonical form, or a fresh one."""
    if requested is None:
        return str(uuid.uuid4())
    if not isinstance(requested, str) or not is_uuid(requested):
        raise BadRequest("id must be a UUID")
    return str(uuid.UUID(requested))


def is_uuid(value: str) -> bool:
    # uuid.UUID also takes braces and a urn: prefix; ids are only the plain forms.
    if len(value) not in (32, 36):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def apply(
    caller: Caller,
    artifact: Artifact,
    changes: Changes,
    previous: Artifact | None,
    quota: QuotaSettings,
) -> Artifact:
    """``artifact`` with ``changes`` checked and set.

    With ``previous``, only what differs from it is checked, so that properties the
    server set itself can be carried along unchanged. ``changes`` are relative to what
    the caller sees of ``previous``: properties it may not read are kept as they are.
    """
    fields = {
        name: value
        for name, value in changes.fields.items()
        if previous is None or getattr(previous, name) != value
    }
    for name in fields:
        if name in READ_ONLY_FIELDS:
            raise Forbidden(f"attribute {name!r} is read-only")
        if name not in WRITABLE_FIELDS:
            raise BadRequest(f"unknown attribute {name!r}")
    values = {name: _field(name, value) for name, value in fields.items()}
    if values.get("visibility") is Visibility.PUBLIC:
        caller.require("publicize_image", artifact)
    if values.get("visibility") is Visibility.COMMUNITY:
        caller.require("communitize_image", artifact)
    if "owner" in values and not caller.is_admin:
        raise Forbidden("only administrators may change an artifact's owner")
    if previous is not None and previous.filename is not None:
        address = ", ".join(name for name in ADDRESS_FIELDS if name in values)
        if address:
            raise Forbidden(f"a package's {address} is part of its download URLs: it stays")
    core = ", ".join(sorted(CORE_FIELDS & values.keys()))
    has_data = previous is not None and previous.status is not Status.QUEUED
    if core and has_data and not caller.is_admin:
        raise Forbidden(f"only administrators may change {core} once an artifact has left queued")
    properties = _properties(caller, changes.properties, previous)
    if len(properties) > quota.properties:
        raise TooLarge(f"at most {quota.properties} properties are allowed")
    tags = artifact.tags if changes.tags is None else checked_tags(changes.tags, quota)
    changed = replace(artifact, **values, properties=properties, tags=tags)
    if changed.filename is not None and (previous is None or previous.filename is None):
        if changed.name is None or changed.version is None:
            raise BadRequest("a package's filename needs a name and a version: they make its URLs")
        checked = package_address(changed.name, changed.version, changed.filename)
        changed = replace(changed, name=checked.name, version=checked.version,
                          filename=checked.filename)  # fmt: skip
    return changed


def _properties(
    caller: Caller, wanted: dict[str, Any], previous: Artifact | None
) -> dict[str, str]:
    """The properties to store: ``wanted``, checked, plus those the caller cannot see.

    As Glance v1 does: writing a property the caller cannot read is refused whether or
    not it exists (so that values cannot be guessed), and one it cannot read is never
    deleted by leaving it out.
    """
    before = previous.properties if previous is not None else {}
    seen = caller.view(previous).properties if previous is not None else {}
    for name, value in wanted.items():
        if name in seen and seen[name] == value:
            continue
        check_property(name, value)
        operation: Operation = "update" if name in before else "create"
        if not (caller.may_property(name, "read") and caller.may_property(name, operation)):
            raise Forbidden(f"property {name!r} is protected")
    for name in seen.keys() - wanted.keys():
        if name.startswith(RESERVED_PREFIX):
            raise Forbidden(f"property {name!r} is reserved")
        if not caller.may_property(name, "delete"):
            raise Forbidden(f"property {name!r} is protected")
    hidden = {name: value for name, value in before.items() if name not in seen}
    return {**hidden, **wanted}


def check_project(name: str, project: object) -> str:
    """A project id: text of 1 to ``MAX_NAME`` characters, not only spaces."""
    if not (_is_text(project) and project.strip() and len(project) <= MAX_NAME):
        raise BadRequest(f"{name} must be a project id of 1 to {MAX_NAME} characters")
    return project


def _field(name: str, value: Any) -> Any:
    match name:
        case "name" | "version" | "owner" | "filename":
            if value is not None and not (_is_text(value) and len(value) <= MAX_NAME):
                raise BadRequest(f"{name} must be a string of at most {MAX_NAME} characters")
            return value
        case "visibility":
            try:
                return Visibility(value)
            except ValueError:
                choices = [v.value for v in Visibility]
                raise BadRequest(f"visibility must be one of {choices}") from None
        case "protected" | "os_hidden":
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be a boolean")
            return value
        case "disk_format" | "container_format":
            allowed = DISK_FORMATS if name == "disk_format" else CONTAINER_FORMATS
            if value is not None and value not in allowed:
                raise BadRequest(f"{name} must be one of {list(allowed)}")
            return value
        case _:  # min_disk, min_ram
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
                raise BadRequest(f"{name} must be an integer from 0 to {MAX_INT}")
            return value


def check_property(name: str, value: Any) -> None:
    """A property as a caller may set it: its name not reserved, its value a string."""
    if name.startswith(RESERVED_PREFIX) or name in RESERVED_NAMES:
        raise Forbidden(f"property {name!r} is reserved")
    if name in BASE_FIELDS or not 0 < len(name) <= MAX_NAME or not _is_text(name):
        raise BadRequest(f"invalid property name {name!r}")
    if not _is_text(value):
        raise BadRequest(f"property {name!r} must be a string")
    if len(value) > MAX_PROPERTY_VALUE:
        raise BadRequest(f"property {name!r} is longer than {MAX_PROPERTY_VALUE} characters")
    pattern = PROPERTY_FORMATS.get(name)
    if pattern is not None and not pattern.fullmatch(value):
        raise BadRequest(f"property {name!r} must match {pattern.pattern}")


def checked_tags(tags: Any, quota: QuotaSettings) -> list[str]:
    """``tags`` without repeats, if each is valid and they are not too many."""
    valid = isinstance(tags, list) and all(_is_text(tag) for tag in tags)
    unique = list(dict.fromkeys(tags)) if valid else None
    if unique is None or any(not 0 < len(tag) <= MAX_NAME or CONTROL.search(tag) for tag in unique):
        raise BadRequest(
            f"tags must be strings of 1 to {MAX_NAME} characters, without control characters"
        )
    if len(unique) > quota.tags:
        raise TooLarge(f"at most {quota.tags} tags are allowed")
    return unique


def _is_text(value: Any) -> TypeGuard[str]:
    """A string that can be stored: JSON allows lone surrogates and NUL, UTF-8 does not
    the first, PostgreSQL's text the second."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def base_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The base fields among ``fields``; the rest are properties (and tags)."""
    return {name: value for name, value in fields.items() if name in BASE_FIELDS}


AMAZON_FORMATS = ("aki", "ari", "ami")  # kernel, ramdisk, machine: one name for both formats


def missing_formats(artifact: Artifact) -> str:
    """Glance's refusal of data for an image that lacks a disk or container format (v2
    refuses it on upload and import, v1 on upload and location)."""
    missing = [name for name in ("disk_format", "container_format") if not getattr(artifact, name)]
    return f"{' and '.join(missing)} must be set before the image takes data"


def require_formats(artifact: Artifact) -> None:
    if not (artifact.disk_format and artifact.container_format):
        raise BadRequest(missing_formats(artifact))


def match_amazon_formats(fields: dict[str, Any]) -> None:
    """Glance v1's rule for Amazon's formats, on the fields a request sets: when either
    format is aki, ari or ami, the other must be the same; the one not given takes the
    other's value (either way: a disk format aki gives container aki, a container ami
    gives disk ami)."""
    disk, container = fields.get("disk_format"), fields.get("container_format")
    if disk not in AMAZON_FORMATS and container not in AMAZON_FORMATS:
        return
    if disk is None:
        fields["disk_format"] = container
    elif container is None:
        fields["container_format"] = disk
    elif disk != container:
        raise BadRequest(
            "with a disk or container format of aki, ari or ami, both formats must be the "
            f"same (disk_format {disk!r}, container_format {container!r})"
        )
