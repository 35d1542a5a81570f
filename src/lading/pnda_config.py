"""PNDA's ``pr-config.json``, read as a lading store (``pnda.config``).

PNDA's package repository kept its packages in the one store its configuration file
named: ``SwiftRepository``, ``S3Repository`` or ``FsRepository``. lading reads that
file as it is, maps the store onto its own store settings and serves the PNDA face from
it, so a PNDA deployment keeps its file and its packages where they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lading.settings_errors import ConfigFileError

KINDS = ("SwiftRepository", "S3Repository", "FsRepository")
PNDA_STORE = "pnda"  # the name the file's store takes among lading's stores


def read_pnda_config(path: Path) -> dict[str, Any]:
    """The store settings (a dict for ``stores``) that PNDA's file at ``path`` names.

    Anything that keeps the file from naming one store is a ConfigFileError whose text
    is one line naming the file: the operator reads it on the terminal, not a traceback.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ConfigFileError(path, "a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(path, f"cannot be read ({_reason(exc)})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            path, f"not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(document, dict):
        raise ConfigFileError(path, "not a JSON object")
    # Keys that are not repositories (PNDA's other settings) are left alone; a key that
    # looks like a repository lading does not know is refused, not silently skipped.
    unknown = [k for k in document if k.endswith("Repository") and k not in KINDS]
    if unknown:
        raise ConfigFileError(
            path, f"unknown repository kind {unknown[0]!r} (lading reads {', '.join(KINDS)})"
        )
    named = [k for k in KINDS if k in document]
    if not named:
        raise ConfigFileError(path, f"names no repository ({', '.join(KINDS)})")
    if len(named) > 1:
        raise ConfigFileError(
            path, f"names {' and '.join(named)}: keep the one the repository serves from"
        )
    kind = named[0]
    section = document[kind]
    try:
        store = _MAPPINGS[kind](section)
    except KeyError as exc:
        raise ConfigFileError(path, f"{kind} lacks {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigFileError(path, f"{kind}: {_reason(exc)}") from None
    return store


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']}" if where else error["msg"]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _get(section: object, *keys: str) -> str:
    """``section[keys[0]][keys[1]]...``, a non-empty string; KeyError names the dotted path."""
    value: object = section
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise KeyError(".".join(keys))
        value = value[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{'.'.join(keys)} must be a non-empty string")
    return value


def _optional(section: object, *keys: str) -> str | None:
    try:
        return _get(section, *keys)
    except KeyError:
        return None


def _folder(path: str | None) -> str:
    """PNDA's ``path`` (a folder in the container) as a store prefix: ``releases/``."""
    path = (path or "").strip("/")
    return f"{path}/" if path else ""


def _swift(section: object) -> dict[str, Any]:
    """PNDA's Swift came from an openrc file: a project (``account``), a user, a password
    and a Keystone URL. lading signs in with Keystone v3 (a v2.0 URL is the same
    Keystone's: its v3 root is used) or, for a ``.../auth/v1.0`` URL, with tempauth,
    where the user is ``account:user``."""
    auth_url = _get(section, "access", "auth_url").rstrip("/")
    account = _get(section, "access", "account")
    user = _get(section, "access", "user")
    key = _get(section, "access", "key")
    store: dict[str, Any] = {
        "type": "swift",
        "container": _get(section, "container", "container"),
        "prefix": _folder(_optional(section, "container", "path")),
        "key": key,
        "description": "PNDA's SwiftRepository (pr-config.json)",
    }
    if auth_url.endswith("/auth/v1.0") or auth_url.endswith("/auth/v1"):
        store |= {"auth_url": auth_url, "auth_version": "1", "user": f"{account}:{user}"}
    else:
        root = auth_url.removesuffix("/v2.0").removesuffix("/v3")
        store |= {"auth_url": f"{root}/v3", "auth_version": "3", "user": user, "project": account}
        for name in ("user_domain", "project_domain", "region"):  # openrc's OS_*, if given
            if (value := _optional(section, "access", name)) is not None:
                store[name] = value
    return store


def _s3(section: object) -> dict[str, Any]:
    store: dict[str, Any] = {
        "type": "s3",
        "bucket": _get(section, "container", "bucket"),
        "prefix": _folder(_optional(section, "container", "path")),
        "region": _get(section, "access", "region"),
        "access_key": _get(section, "access", "access_key"),
        "secret_key": _get(section, "access", "secret_access_key"),
        "description": "PNDA's S3Repository (pr-config.json)",
    }
    # Not in PNDA's file (it spoke to AWS only): an S3-compatible endpoint, if added.
    if (endpoint := _optional(section, "access", "endpoint_url")) is not None:
        store |= {"endpoint_url": endpoint, "path_style": True}
    return store


def _fs(section: object) -> dict[str, Any]:
    return {
        "type": "filesystem",
        "path": _get(section, "location", "path"),
        "description": "PNDA's FsRepository (pr-config.json)",
    }


_MAPPINGS = {"SwiftRepository": _swift, "S3Repository": _s3, "FsRepository": _fs}
