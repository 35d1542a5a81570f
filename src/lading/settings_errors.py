"""The error of a settings file lading cannot read, told in one line."""

from __future__ import annotations

from pathlib import Path


class ConfigFileError(Exception):
    """A configuration file that cannot be used: its path and what is wrong.

    Not a ValueError on purpose: pydantic would fold it into a many-line validation
    report, and the operator is owed one line naming the file.
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem
