"""The packages import downwards only: the faces (``lading.api``) and the web UI
(``lading.web``) build on the HTTP kit (``lading.http``), never on each other, and the
kit on neither; only the wiring (``lading.app``, ``lading.faces``) sees them all."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import lading

SOURCE = Path(lading.__file__).parent
WIRING = ("lading.app", "lading.faces")
# package -> the packages (and modules) it may not import
FORBIDDEN = {
    "lading.http": ("lading.api", "lading.web", *WIRING),
    "lading.web": ("lading.api", *WIRING),
    "lading.api": ("lading.web", *WIRING),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str) -> Iterator[str]:
    """Every module the file of module ``name`` imports, at its top or inside a
    function, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    files = sorted((SOURCE / package.removeprefix("lading.").replace(".", "/")).rglob("*.py"))
    assert files, package
    crossing = {
        f"{module_name(path)} imports {target}"
        for path in files
        for target in imported(path, module_name(path))
        if any(within(target, banned) for banned in FORBIDDEN[package])
    }
    assert crossing == set()


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    """The parser reads absolute, relative and late imports alike."""
    path = tmp_path / "probe.py"
    lines = ("from ..api import click", "import lading.api.pnda", "def late():",
             "    from lading.app import x")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    found = set(imported(path, "lading.web.probe"))
    assert {"lading.api", "lading.api.click", "lading.api.pnda", "lading.app"} <= found
