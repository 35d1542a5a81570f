"""What a project holds against its quotas, counted in one place: every face's bytes are
one total (``quota.bytes``), whichever face brought them.

- artifacts (the Glance faces' images, the package faces' packages): each live
  artifact's size;
- the registry's blobs: each blob once per project however many of its repositories
  link it (``lading.db.oci.project_bytes``);
- the Python package index's files: each blob once per project however many of its index
  projects' files share it (``lading.db.pypi.project_bytes``), paid by the project that
  owns the name, whoever uploaded the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from lading.db import artifacts, locks, oci, pypi


@dataclass(frozen=True, slots=True)
class Usage:
    artifacts: int  # live artifacts (``quota.artifacts``)
    bytes: int  # every face's bytes (``quota.bytes``)


def project_usage(connection: Connection, project: str) -> Usage:
    count, size = artifacts.usage(connection, project)
    size += oci.project_bytes(connection, project) + pypi.project_bytes(connection, project)
    return Usage(count, size)


def used_bytes(connection: Connection, project: str) -> int:
    """What counts against ``project``'s byte quota."""
    return project_usage(connection, project).bytes


def charging(connection: Connection, project: str) -> Usage:
    """What ``project`` holds, for a transaction about to add to it if its quota allows:
    such transactions take turns (``locks``), so that two cannot pass a quota together."""
    locks.hold(connection, "quota", project)
    return project_usage(connection, project)
