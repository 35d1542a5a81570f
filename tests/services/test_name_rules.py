"""What a package name may hold (letters, digits and marks of any script, and . _ - + ~,
beginning with a letter or digit), what a version or file name may (anything visible
that stands in one URL segment), and names compared by key and skeleton."""

from __future__ import annotations

import pytest

from lading.domain import PackageFile
from lading.errors import BadRequest
from lading.services.name_rules import (
    Folded,
    check_name,
    check_segment,
    check_version,
    key,
    lookup_form,
    package_address,
    skeleton,
)

DECOMPOSED = "cafe\u0301"  # e and a combining acute: café once in NFC


@pytest.mark.parametrize("name", ["tool", "Tool-2.0_b+c~d", "пакет", "工具", "0day", DECOMPOSED])
def test_names_of_any_script_are_taken(name: str) -> None:
    assert check_name("name", name) is not None


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("", "1 to 255"),
        ("x" * 256, "1 to 255"),
        ("-tool", "begin with a letter or a digit"),
        ("a b", "SPACE"),
        ("a/b", "SOLIDUS"),
        ("a\u200db", "control, format and bidi"),  # a zero-width joiner
        ("a\u202eb", "control, format and bidi"),  # a right-to-left override
        ("\ufdfa" * 60, "too long once folded"),  # a ligature whose skeleton is 18 letters
    ],
)
def test_names_that_are_refused_say_why(name: str, complaint: str) -> None:
    with pytest.raises(BadRequest, match=complaint):
        check_name("name", name)


def test_names_and_versions_are_kept_in_nfc() -> None:
    assert check_name("name", DECOMPOSED) == "café"
    assert check_version("version", "1.0-" + DECOMPOSED) == "1.0-café"
    address = package_address(DECOMPOSED, "1 beta", "café 1.tgz")
    assert address == PackageFile("café", "1 beta", "café 1.tgz")


@pytest.mark.parametrize("version", ["", ".", "..", "1/2", "1\\2", "1\n", "x" * 256, "1\u2028"])
def test_versions_that_cannot_stand_in_a_url_segment_are_refused(version: str) -> None:
    with pytest.raises(BadRequest):
        check_version("version", version)


def test_a_segment_check_refuses_only_what_breaks_a_path() -> None:
    assert check_segment("file", "a b (1).tgz") == "a b (1).tgz"
    with pytest.raises(BadRequest):
        check_segment("file", "..")
    assert lookup_form("old name") == "old name"  # names from before the character set
    with pytest.raises(BadRequest):
        lookup_form("a/b")


def test_names_are_one_by_key_and_look_alike_by_skeleton() -> None:
    assert key("Tool") == key("TOOL") == "tool"
    assert key("Straße") == key("STRASSE")
    assert key(DECOMPOSED) == key("CAFÉ")
    assert skeleton("paypal") == skeleton("p\u0430ypal")  # a Cyrillic a
    assert skeleton("t00l") == skeleton("tool")
    assert skeleton("rn") == skeleton("m")
    assert skeleton("tool") != skeleton("toll")
    folded = Folded.of("Tool")
    assert (folded.name, folded.key, folded.skeleton) == ("Tool", "tool", skeleton("tool"))
