"""How versions order, as a byte string the database can index and compare.

``GET /packages?recency=n`` needs each package's newest versions, ordered as people read
versions (1.0.10 after 1.0.9, 1.0rc1 before 1.0), for any number of packages: so the
order is a column (``artifacts.version_key``), compared bytewise by SQLite and
PostgreSQL alike, and the n newest per name come from one indexed query.

The rule, close to PEP 440 and Maven for the versions both understand:

- a version is read as runs of digits and runs of letters; ``.``, ``-``, ``_`` and
  ``+`` only separate them, and case does not matter;
- numbers compare as numbers, and trailing zeros do not count (1.0 = 1.0.0);
- a pre-release word (dev, alpha/a, beta/b, milestone/m, rc/c/cr/pre/preview,
  snapshot) sorts before the release it precedes: 1.0.dev1 < 1.0a1 < 1.0b2 < 1.0rc1 <
  1.0-SNAPSHOT < 1.0;
- any other word (post, a distribution's suffix) sorts after it, before the next number:
  1.0 < 1.0.post1 < 1.0.1; words among themselves in alphabetical order.

Versions equal under this rule (1.0 and 1.0.0) are told apart by their text.
"""

from __future__ import annotations

import re

PRE_RELEASES = {
    "dev": 0,
    "alpha": 1, "a": 1,
    "beta": 2, "b": 2,
    "milestone": 3, "m": 3,
    "rc": 4, "c": 4, "cr": 4, "pre": 4, "preview": 4,
    "snapshot": 5,
}  # fmt: skip
TOKENS = re.compile(r"\d+|[^\W\d_]+")  # digits, or letters (any script)

# The first byte of each token: a pre-release sorts before the end of a version, the end
# before another word (1.0 < 1.0.post1), a word before a number (1.0.post1 < 1.0.1).
PRE, END, WORD, NUMBER = b"\x01", b"\x02", b"\x03", b"\x04"


def version_key(version: str) -> bytes:
    """A key that sorts bytewise as ``version`` sorts among versions."""
    tokens = TOKENS.findall(version.lower())
    key = bytearray()
    release: list[bytes] = []  # numbers waiting: zeros at the end of a release are dropped
    for token in tokens:
        if token.isdigit():
            release.append(_number(token))
            continue
        key += _release(release)
        release = []
        if token in PRE_RELEASES:
            key += PRE + bytes([PRE_RELEASES[token]])
        else:
            key += WORD + token.encode() + b"\x00"
    key += _release(release)
    return bytes(key + END)


def _number(digits: str) -> bytes:
    """Longer numbers are larger: the length goes first (a version is at most 255
    characters, so it fits one byte)."""
    digits = digits.lstrip("0") or "0"
    return NUMBER + bytes([len(digits)]) + digits.encode()


def _release(numbers: list[bytes]) -> bytes:
    zero = _number("0")
    while len(numbers) > 1 and numbers[-1] == zero:
        numbers = numbers[:-1]
    return b"".join(numbers)
