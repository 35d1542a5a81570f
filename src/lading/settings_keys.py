"""Which ``LADING_*`` variables and TOML keys are settings, worked out from the settings
model itself, so that a misspelt one is refused at start, naming the nearest known one.

pydantic-settings reads only the variables whose names are fields and passes over the
rest: a misspelt ``LADING_PORT`` would leave lading on 9292 without a word. Nothing here is a
list of settings kept by hand: a field added to a model is known here at once. The
variables that lading's other programs read (the client, the test suite, the scripts)
are not settings, and are named in ``OTHER_VARIABLES``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

PREFIX = "LADING_"
NESTED = "__"  # the settings' env_nested_delimiter
# LADING_* variables that are not settings: each program that reads one, and why.
OTHER_VARIABLES = frozenset(
    {
        "LADING_CONFIG",  # the settings' TOML file (lading.settings.CONFIG_FILE_VARIABLE)
        "LADING_URL",  # the lading CLI's server (lading.cli.remote)
        "LADING_TOKEN",  # the lading CLI's token
        "LADING_CLIENT_CONFIG",  # the lading CLI's config file
        "LADING_REQUIRE_SERVICES",  # the test suite: a missing server fails, not skips
        "LADING_TEST_POSTGRES_URL",  # the test suite's real servers
        "LADING_TEST_SWIFT_URL",
        "LADING_TEST_KEYSTONE_URL",
        "LADING_TEST_CEPH_CONF",
        "LADING_FUZZ_EXAMPLES",  # the test suite's fuzzing and fault injection
        "LADING_FAULT_SEED",
        "LADING_FAULT_KILLS",
        "LADING_SERVICES_DIR",  # scripts/services.sh
        "LADING_KEYSTONE_PORT",  # scripts/services.sh and interop/run.py
        "LADING_INTEROP_KEEP",  # interop/run.py
        "LADING_UID",  # the Containerfile's build argument: the image's user
        "LADING_CONTAINER_CACHE",  # make container-test: its images and base, kept
        "LADING_CONTAINER_MIRROR",  # make container-test: the Debian mirror of its base
    }
)
MATCH_CUTOFF = 0.6  # difflib's own default: close enough to be a likely slip


class UnknownSetting(Exception):
    """A variable or key that no setting has: one line per name, each naming where it was
    found and the nearest known name. Not a ValueError, so that pydantic cannot fold it
    into a validation report."""


@dataclass(frozen=True, slots=True)
class _Node:
    """What a name may hold below it: a model's fields, any key (a dict's), or nothing."""

    fields: Mapping[str, _Node] | None = None  # a model's fields and the keys it renamed
    any_key: _Node | None = None  # a dict: every key, each holding this

    @property
    def leaf(self) -> bool:
        return self.fields is None and self.any_key is None


_LEAF = _Node()


def _node(annotation: Any) -> _Node:
    """The node of a field's type: models, dicts, and unions or Optionals of them."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _node(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [_node(arg) for arg in get_args(annotation) if arg is not type(None)]
        fields: dict[str, _Node] = {}
        for member in members:  # store kinds: a key of any kind is a key
            fields.update(member.fields or {})
        dicts = [member.any_key for member in members if member.any_key is not None]
        if fields:
            return _Node(fields=fields)
        return _Node(any_key=dicts[0]) if dicts else _LEAF
    if origin is dict or annotation is dict:
        arguments = get_args(annotation)
        return _Node(any_key=_node(arguments[1]) if arguments else _LEAF)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_node(annotation)
    return _LEAF


def model_node(model: type[BaseModel]) -> _Node:
    """A model's fields (and the keys it still takes under an old name, ``RENAMED``)."""
    fields = {name: _node(field.annotation) for name, field in model.model_fields.items()}
    renamed: Mapping[str, str] = getattr(model, "RENAMED", {})
    for old, new in renamed.items():
        fields.setdefault(old, fields[new])
    return _Node(fields=fields)


def _first_unknown(node: _Node, path: tuple[str, ...]) -> tuple[int, _Node] | None:
    """Where ``path`` leaves the known names: its index and the node that did not know it."""
    for index, segment in enumerate(path):
        if node.fields is not None:
            if segment not in node.fields:
                return index, node
            node = node.fields[segment]
        elif node.any_key is not None:
            node = node.any_key
        else:  # below a plain value
            return index, node
    return None


def _names(node: _Node, depth: int) -> Iterator[tuple[str, ...]]:
    """The names below ``node``, ``depth`` levels down at most, a dict's keys aside."""
    for name, child in (node.fields or {}).items():
        yield (name,)
        if depth > 1:
            for rest in _names(child, depth - 1):
                yield (name, *rest)


def _nearest(node: _Node, rest: tuple[str, ...], joiner: str) -> str | None:
    """The known name nearest ``rest``, counting names a level deeper than it: a nested
    name written with ``_`` for ``__`` is one segment where the known one is two."""
    known = [joiner.join(names) for names in _names(node, len(rest) + 1)]
    found = difflib.get_close_matches(joiner.join(rest), known, n=1, cutoff=MATCH_CUTOFF)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class SettingsNames:
    """The names a settings model knows, as ``LADING_*`` variables and as TOML keys."""

    root: _Node

    @classmethod
    def of(cls, model: type[BaseModel]) -> SettingsNames:
        return cls(model_node(model))

    def knows_variable(self, name: str) -> bool:
        """Whether ``name`` (any case, as pydantic-settings reads them) is a setting's
        variable or one of ``OTHER_VARIABLES``."""
        upper = name.upper()
        if upper in OTHER_VARIABLES:
            return True
        path = tuple(upper.removeprefix(PREFIX).lower().split(NESTED))
        return upper.startswith(PREFIX) and _first_unknown(self.root, path) is None

    def unknown_variables(self, environment: Mapping[str, str]) -> list[str]:
        """A line for each ``LADING_*`` variable of ``environment`` that lading does not
        read, with the nearest known name."""
        lines = []
        for name in sorted(environment):
            if not name.upper().startswith(PREFIX) or self.knows_variable(name):
                continue
            path = tuple(name.upper().removeprefix(PREFIX).lower().split(NESTED))
            line = f"{name} (environment) is not a lading setting"
            nearest = self._nearest_variable(path)
            lines.append(f"{line}: did you mean {nearest}?" if nearest else line)
        return lines

    def _nearest_variable(self, path: tuple[str, ...]) -> str | None:
        unknown = _first_unknown(self.root, path)
        assert unknown is not None
        index, node = unknown
        nearest = _nearest(node, path[index:], NESTED)
        candidates = [PREFIX + NESTED.join((*path[:index], nearest)).upper()] if nearest else []
        # A slip in a name of another program (the client's URL) may be nearest that name.
        wanted = PREFIX + NESTED.join(path).upper()
        candidates += difflib.get_close_matches(wanted, OTHER_VARIABLES, n=1, cutoff=0.8)
        best = difflib.get_close_matches(wanted, candidates, n=1, cutoff=0)
        return best[0] if best else None

    def unknown_keys(self, document: Mapping[str, Any], source: Path) -> list[str]:
        """A line for each key of a TOML ``document`` that is no setting."""
        lines: list[str] = []
        self._walk(self.root, document, (), source, lines)
        return lines

    def _walk(
        self,
        node: _Node,
        document: Mapping[str, Any],
        path: tuple[str, ...],
        source: Path,
        lines: list[str],
    ) -> None:
        for key, value in document.items():
            child = node.fields.get(key) if node.fields is not None else node.any_key
            if child is None:
                line = f"{source}: {'.'.join((*path, key))} is not a lading setting"
                nearest = _nearest(node, (key,), ".")
                where = ".".join((*path, nearest)) if nearest else None
                lines.append(f"{line}: did you mean {where}?" if where else line)
            elif not child.leaf and isinstance(value, Mapping):
                self._walk(child, value, (*path, key), source, lines)


def variable_name(key: str) -> str:
    """The variable of a setting's dotted TOML key: ``oci.port`` is ``LADING_OCI__PORT``."""
    return PREFIX + key.replace(".", NESTED).upper()


def check_names(model: type[BaseModel], config_file: Path | None) -> None:
    """Raise UnknownSetting naming every ``LADING_*`` variable of this process and every
    key of the TOML ``config_file`` that ``model`` does not know."""
    names = SettingsNames.of(model)
    lines = names.unknown_variables(os.environ)
    if config_file is not None and config_file.is_file():  # a missing one: Settings says so
        with config_file.open("rb") as file:
            lines += names.unknown_keys(tomllib.load(file), config_file)
    if lines:
        raise UnknownSetting("\n".join(lines))
