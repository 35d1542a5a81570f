"""What a package name may hold, and when two names are the same or look the same.

A name is compared by its *key*: NFC, then case-folded, so ``Tool`` and ``tool`` are one
name (PNDA, Click and OSM share one catalogue of names; a name only its case sets apart is
a look-alike on every screen). A name also has a *skeleton*: Unicode TR39's, as ICU's
spoof checker computes it from ``confusables.txt``, of its key, case-folded again (the
skeleton of ``0`` is ``O``). Two names with one skeleton look alike: ``paypal`` with a
Cyrillic a (U+0430), ``t00l`` and ``tool``, ``rn`` and ``m``.

The character set of a name: letters, digits and combining marks of any script, and
``.``, ``_``, ``-``, ``+`` and ``~``, beginning with a letter or a digit. A version may
hold anything but control, format (zero-width joiners, bidi overrides), unassigned,
private-use and line-separating characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lading.domain import PackageFile
from lading.errors import BadRequest
from lading.lazy import LazyModule

if TYPE_CHECKING:
    import icu
else:  # ICU and its data: 19 MiB of a worker, only once a package name is checked
    icu = LazyModule("icu")

MAX_LENGTH = 255
MAX_COMPARED = 1024  # a name's key and skeleton: one character may fold into many
# What may not be in one segment of a URL path (package names, versions, file names).
UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
PUNCTUATION = frozenset(".-_+~")
# Control, format (zero-width and bidi controls among them), surrogates, private use,
# unassigned; line and paragraph separators.
INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_name(label: str, name: str) -> str:
    """``name`` in NFC, if it is a package name; BadRequest saying what is wrong if not."""
    _check_visible(label, name)
    name = unicodedata.normalize("NFC", name)
    if not 0 < len(name) <= MAX_LENGTH:
        raise BadRequest(f"{label} must be 1 to {MAX_LENGTH} characters")
    if unicodedata.category(name[0])[0] not in "LN":
        raise BadRequest(f"{label} {name!r} must begin with a letter or a digit")
    for character in name:
        if unicodedata.category(character)[0] not in "LNM" and character not in PUNCTUATION:
            raise BadRequest(
                f"{label} {name!r} holds {_describe(character)}: a package name holds letters, "
                "digits and marks of any script, and . _ - + ~"
            )
    if len(key(name)) > MAX_COMPARED or len(skeleton(name)) > MAX_COMPARED:
        raise BadRequest(f"{label} {name!r} is too long once folded for comparison")
    return name


def lookup_form(name: str) -> str:
    """A name to look up, as any package may have had (names from before the character
    set included): BadRequest if no package can have it."""
    return check_version("the name", name)


def check_version(label: str, version: str) -> str:
    """``version`` in NFC, if it can stand in a URL and holds nothing invisible."""
    _check_visible(label, version)
    return check_segment(label, unicodedata.normalize("NFC", version))


def check_segment(label: str, value: str) -> str:
    """A name that can stand as one segment of a URL path."""
    if not 0 < len(value) <= MAX_LENGTH or value in (".", "..") or UNSAFE.search(value):
        raise BadRequest(
            f"{label} must be 1 to {MAX_LENGTH} characters, with no /, \\ or control characters"
        )
    return value


def package_address(name: str, version: str, filename: str) -> PackageFile:
    """A package's name, version and file name, which make its URLs: checked, in NFC."""
    return PackageFile(
        check_name("the package name", name),
        check_version("the version", version),
        check_version("the file name", filename),
    )


@dataclass(frozen=True, slots=True)
class Folded:
    """A name with what it is compared by, worked out once."""

    name: str
    key: str
    skeleton: str

    @classmethod
    def of(cls, name: str) -> Folded:
        return cls(name, key(name), skeleton(name))


def key(name: str) -> str:
    """What names are compared by: NFC, case-folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def skeleton(name: str) -> str:
    """The TR39 skeleton of the name's key, case-folded: equal for look-alikes."""
    return unicodedata.normalize("NFC", _spoof_checker().getSkeleton(0, key(name)).casefold())


@functools.cache
def _spoof_checker() -> icu.SpoofChecker:
    return icu.SpoofChecker()


def _check_visible(label: str, text: str) -> None:
    for character in text:
        if unicodedata.category(character) in INVISIBLE:
            raise BadRequest(
                f"{label} {text.encode('unicode_escape').decode()!r} holds "
                f"{_describe(character)}: control, format and bidi characters are refused"
            )


def _describe(character: str) -> str:
    name = unicodedata.name(character, "an unnamed character")
    return f"U+{ord(character):04X} ({name})"
