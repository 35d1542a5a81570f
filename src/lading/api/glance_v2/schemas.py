"""The JSON schemas served at /v2/schemas: what the glance CLI builds its model from."""

from __future__ import annotations

from typing import Any

from lading.domain import CONTAINER_FORMATS, DISK_FORMATS, Status, Visibility

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)


def _prop(description: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **extra}


def _read_only(description: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return _prop(description, kind, readOnly=True, **extra)


def _extra(description: str, **extra: Any) -> dict[str, Any]:
    """A well-known property that is not a base field (``is_base`` guides glanceclient)."""
    return _prop(description, "string", is_base=False, **extra)


IMAGE_PROPERTIES: dict[str, Any] = {
    "id": _prop("An identifier for the image", "string", pattern=UUID_PATTERN),
    "name": _prop("Descriptive name for the image", ["null", "string"], maxLength=255),
    "status": _read_only("Status of the image", "string", enum=[status.value for status in Status]),
    "visibility": _prop(
        "Scope of image accessibility", "string", enum=[v.value for v in Visibility]
    ),
    "protected": _prop("If true, image will not be deletable.", "boolean"),
    "os_hidden": _prop("If true, image will not appear in default image list response.", "boolean"),
    "checksum": _read_only("md5 hash of image contents.", ["null", "string"], maxLength=32),
    "os_hash_algo": _read_only(
        "Algorithm to calculate the os_hash_value", ["null", "string"], maxLength=64
    ),
    "os_hash_value": _read_only(
        "Hexdigest of the image contents using the algorithm in os_hash_algo",
        ["null", "string"],
        maxLength=128,
    ),
    "owner": _prop("Owner of the image", ["null", "string"], maxLength=255),
    "size": _read_only("Size of image file in bytes", ["null", "integer"]),
    "virtual_size": _read_only("Virtual size of image in bytes", ["null", "integer"]),
    "container_format": _prop(
        "Format of the container", ["null", "string"], enum=[None, *CONTAINER_FORMATS]
    ),
    "disk_format": _prop("Format of the disk", ["null", "string"], enum=[None, *DISK_FORMATS]),
    "created_at": _read_only("Date and time of image registration", "string"),
    "updated_at": _read_only("Date and time of the last image modification", "string"),
    "tags": _prop(
        "List of strings related to the image", "array", items={"type": "string", "maxLength": 255}
    ),
    "direct_url": _read_only("URL to access the image file kept in external store", "string"),
    "min_ram": _prop("Amount of ram (in MB) required to boot image.", "integer"),
    "min_disk": _prop("Amount of disk space (in GB) required to boot image.", "integer"),
    "self": _read_only("An image self url", "string"),
    "file": _read_only("An image file url", "string"),
    "stores": _read_only("Store in which image data resides.", "string"),
    "schema": _read_only("An image schema url", "string"),
    "locations": {
        "type": "array",
        "description": "A set of URLs to access the image file kept in external store",
        "items": {
            "type": "object",
            "required": ["url", "metadata"],
            "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
            },
        },
    },
    "version": _extra("Version of the artifact (packages parse it from the file name)"),
    "filename": _extra("File name the package faces serve the data under (set once)"),
    "kernel_id": _extra(
        "ID of image stored in Glance that should be used as the kernel", pattern=UUID_PATTERN
    )
    | {"type": ["null", "string"]},
    "ramdisk_id": _extra(
        "ID of image stored in Glance that should be used as the ramdisk", pattern=UUID_PATTERN
    )
    | {"type": ["null", "string"]},
    "instance_uuid": _extra("Metadata which can be used to record which instance this image is"),
    "architecture": _extra("Operating system architecture"),
    "os_distro": _extra("Common name of operating system distribution"),
    "os_version": _extra("Operating system version as specified by the distributor"),
    "description": _extra("A human-readable string describing this image."),
}

IMAGE_LINKS = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]

MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "additionalProperties": False,
    "properties": {
        "member_id": {"type": "string", "description": "An identifier for the image member"},
        "image_id": {"type": "string", "pattern": UUID_PATTERN},
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "updated_at": {"type": "string", "description": "Date and time of last modification"},
        "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        "schema": {"readOnly": True, "type": "string"},
    },
}


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "additionalProperties": {"type": "string"},
        "properties": IMAGE_PROPERTIES,
        "links": IMAGE_LINKS,
    }


def images_schema() -> dict[str, Any]:
    return _collection("images", image_schema(), with_links=True)


def member_schema() -> dict[str, Any]:
    return MEMBER_SCHEMA


def members_schema() -> dict[str, Any]:
    return _collection("members", MEMBER_SCHEMA, with_links=False)


TASK_SCHEMA: dict[str, Any] = {
    "name": "task",
    "properties": {
        "id": {"type": "string", "pattern": UUID_PATTERN, "description": "The task's id"},
        "type": {"type": "string", "description": "The type of task represented by this content"},
        "status": {
            "type": "string",
            "enum": ["pending", "processing", "success", "failure"],
            "description": "The current status of this task",
        },
        "input": {"type": ["null", "object"], "description": "The parameters required by task"},
        "result": {"type": ["null", "object"], "description": "The result of current task"},
        "owner": {"type": "string", "description": "An identifier for the owner of this task"},
        "message": {"type": "string", "description": "Human-readable informative message"},
        "image_id": {"type": "string", "description": "Image associated with the task"},
        "request_id": {
            "type": ["null", "string"],
            "description": "The request that made the task (its x-openstack-request-id)",
        },
        "user_id": {
            "type": ["null", "string"],
            "description": "The user who made the task; null when the token names no user",
        },
        "progress": {"type": "object", "description": "Bytes done, and the total when known"},
        "expires_at": {"type": ["null", "string"], "description": "When the task is forgotten"},
        "created_at": {"type": "string", "description": "Date and time of task creation"},
        "updated_at": {"type": "string", "description": "Date and time of the last update"},
        "self": {"type": "string"},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
}


def task_schema() -> dict[str, Any]:
    return TASK_SCHEMA


def tasks_schema() -> dict[str, Any]:
    return _collection("tasks", TASK_SCHEMA, with_links=True)


def _collection(name: str, item: dict[str, Any], with_links: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
    if with_links:
        schema["properties"] |= {"first": {"type": "string"}, "next": {"type": "string"}}
        schema["links"] = [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            *schema["links"],
        ]
    return schema


SCHEMAS = {
    "image": image_schema,
    "images": images_schema,
    "member": member_schema,
    "members": members_schema,
    "task": task_schema,
    "tasks": tasks_schema,
}
