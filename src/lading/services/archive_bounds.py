"""What a package archive may cost as it streams in, checked before its bytes go on.

A package that is read as an archive (OSM onboarding) is a tar, or a gzip of one that is
stored inflated. Three things bound what it can make lading write:

- its inflated size: at most ``package_size_cap`` bytes;
- how far it inflates: past ``package_inflate_allowance`` bytes, at most
  ``package_inflate_ratio`` times the bytes received (a gzip bomb inflates 1,000 times;
  real tarballs 2 to 16 times);
- its tar structure, followed block by block: a block where a header belongs must be
  one (its checksum and ``ustar`` magic), so that data that is no tar is refused at its
  first block; the archive ends at its first zero block (the end-of-archive marker), after
  which only zeros may follow (tar pads its last record), at most ``TRAILER_MAX`` of
  them; anything else there is refused, and reading stops there.

Each bound is met before the bytes that pass it are handed on: a bomb or gigabytes of
zeros cost what the bound allows, not their size.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass

from lading.errors import BadRequest, TooLarge
from lading.settings import Settings

KiB = 1024
MiB = 1024 * KiB
BLOCK = 512  # tar's unit: a header, or a piece of a member's data
PIECE = MiB  # the most inflated at once
MAX_HEADER = 64 * KiB  # a long name's or a pax header's data
# Zeros allowed after the end-of-archive block: tar pads its last record (10 KiB by
# default; `tar -b 2048` writes records of 1 MiB), gzip files may be padded too.
TRAILER_MAX = MiB
GZIP_MAGIC = b"\x1f\x8b"
USTAR_MAGICS = (b"ustar\x00", b"ustar ")  # POSIX (ustar, pax) and GNU
# As tarfile reads them: these types have no data, whatever their size field says;
# regular files and types it does not know have ``size`` bytes of data.
DATALESS_TYPES = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
PAX_TYPES = frozenset({b"x", b"X"})  # extended header: describes the next member
GLOBAL_PAX = b"g"  # describes every member after it
LONG_NAME_TYPES = frozenset({b"L", b"K"})  # GNU: the next member's long name or link
SPARSE = b"S"
OLD_REGULAR = b"\0"  # a regular file, or a directory if its name ends in / (old tars)
PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")  # "<length> <keyword>=<value>\n", as tarfile
SIGNED = struct.Struct("148b8x356b")  # some old tars sum signed bytes


class PackageInvalid(BadRequest):
    """The archive is not a package lading can take; ``event`` names what was wrong."""

    def __init__(self, event: str, message: str) -> None:
        super().__init__(message)  # may quote what is not UTF-8: tasks store it escaped
        self.event = event


class PackageTooLarge(TooLarge):
    """The archive passed a bound on what it may make lading store."""

    event = "too-large"


@dataclass(frozen=True, slots=True)
class ArchiveBounds:
    size_cap: int  # bytes, inflated
    inflate_ratio: float  # inflated bytes per byte received...
    inflate_allowance: int  # ...once past this many inflated bytes

    @classmethod
    def of(cls, settings: Settings) -> ArchiveBounds:
        return cls(
            settings.package_size_cap,
            settings.package_inflate_ratio,
            settings.package_inflate_allowance,
        )

    def check(self, received: int, inflated: int) -> None:
        """PackageTooLarge when ``inflated`` bytes made of ``received`` pass a bound."""
        if inflated > self.size_cap:
            raise PackageTooLarge(
                f"the package is larger than package_size_cap ({self.size_cap} bytes) once inflated"
            )
        if inflated > self.inflate_allowance and inflated > self.inflate_ratio * received:
            raise PackageTooLarge(
                f"the package inflates more than package_inflate_ratio "
                f"({self.inflate_ratio:g}) times the data sent: {inflated} bytes from "
                f"{received}, past package_inflate_allowance ({self.inflate_allowance} bytes)"
            )


async def bounded_archive(
    chunks: AsyncIterable[bytes], bounds: ArchiveBounds
) -> AsyncIterator[bytes]:
    """The tar that ``chunks`` bring, inflated if they are a gzip of one, within
    ``bounds``, followed by nothing but the zeros that pad it."""
    framing = TarFraming(bounds.size_cap)
    async for piece in _inflated(chunks, bounds):
        if piece:
            yield framing.feed(piece)
    framing.finish()


def inflated(chunks: AsyncIterable[bytes], bounds: ArchiveBounds) -> AsyncIterator[bytes]:
    """The bytes, inflated when they are gzip, within ``bounds`` (see ``_inflated``): for
    a reader of its own that follows the tar (a container disk's layer)."""
    return _inflated(chunks, bounds)


async def _inflated(chunks: AsyncIterable[bytes], bounds: ArchiveBounds) -> AsyncIterator[bytes]:
    """The bytes, inflated on the fly when they are gzip (by their magic number), each
    piece at most ``PIECE`` and made only when asked for: a small bomb cannot make a large
    piece, nor many pieces at once, and a piece that would pass a bound is never made
    available."""
    source = aiter(chunks)
    head = b""
    async for chunk in source:
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    received = len(head)
    if not head.startswith(GZIP_MAGIC):
        bounds.check(received, received)
        if head:
            yield head
        async for chunk in source:
            received += len(chunk)
            bounds.check(received, received)
            yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inflated = padding = 0

    def inflate(data: bytes) -> Iterator[bytes]:
        """The chunk's bytes inflated, a piece at a time, each checked before the next is
        made: no more than a piece of a bomb is ever held, and none past a bound."""
        nonlocal inflater, inflated, padding
        while data:
            if inflater.eof:  # gzip allows several members, one after the other
                if not data.strip(b"\0"):  # zeros padding the file, as gzip -d ignores them
                    padding += len(data)
                    if padding > TRAILER_MAX:
                        raise PackageInvalid(
                            "unreadable-package",
                            f"more than {TRAILER_MAX} zero bytes follow the gzip data",
                        )
                    return
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                piece = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise PackageInvalid(
                    "unreadable-package", f"the gzip data is corrupt: {exc}"
                ) from None
            data = inflater.unconsumed_tail or inflater.unused_data
            inflated += len(piece)
            bounds.check(received, inflated)
            yield piece

    for piece in inflate(head):
        yield piece
    async for chunk in source:
        received += len(chunk)
        for piece in inflate(chunk):
            yield piece
    if not inflater.eof:
        raise PackageInvalid("unreadable-package", "the gzip data ends before its end")


class TarFraming:
    """Follows a tar's blocks as its bytes pass, as tarfile reads them, so that what is
    not a tar, or not part of the archive, is refused before it goes on.

    ``feed`` passes each piece on as it is, once checked: the archive, then the zeros
    that pad it, so that the stored archive is the one sent (inflated). Reading the
    members themselves is left to tarfile (``package_archive``); this only knows where
    headers lie.
    """

    def __init__(self, size_cap: int) -> None:
        self._size_cap = size_cap
        self._position = 0  # bytes of the archive seen
        self._header = bytearray()  # a header block, while its bytes come
        self._skip = 0  # bytes of data (and padding) before the next header
        self._extended: bytearray | None = None  # a pax header's data, while it comes
        self._extended_size = 0
        self._extended_type = b""
        self._pax_size: int | None = None  # the next member's size, from its pax header
        self._pax_pending = False
        self._long_name_pending = False
        self._ended = False
        self._trailer = 0  # bytes after the first end-of-archive block

    def feed(self, piece: bytes) -> bytes:
        """``piece``, once checked: PackageInvalid at a block that should be a header
        and is not one, or at what follows the end that is not zeros (or too many of
        them); PackageTooLarge at a member larger than the cap."""
        at = 0
        while at < len(piece):
            if self._ended:
                self._after_end(piece[at:])
                break
            if self._skip:
                step = min(self._skip, len(piece) - at)
                if self._extended is not None and len(self._extended) < self._extended_size:
                    wanted = self._extended_size - len(self._extended)
                    self._extended += piece[at : at + min(step, wanted)]
                self._skip -= step
                self._position += step
                at += step
                if not self._skip and self._extended is not None:
                    self._read_pax(bytes(self._extended))
                    self._extended = None
                continue
            step = min(BLOCK - len(self._header), len(piece) - at)
            self._header += piece[at : at + step]
            at += step
            if len(self._header) == BLOCK:
                self._read_header(bytes(self._header))
                self._header.clear()
                self._position += BLOCK
        return piece

    def finish(self) -> None:
        """The data has ended: PackageInvalid unless the archive had."""
        if self._ended:
            return
        if self._position == 0 and not self._header:
            raise PackageInvalid("unreadable-package", "the package is empty")
        raise PackageInvalid(
            "unreadable-package",
            f"the tar archive is cut short at byte {self._position + len(self._header)}: "
            "it ends before its end-of-archive blocks",
        )

    def _after_end(self, rest: bytes) -> None:
        """``rest`` follows the first end-of-archive block: zeros only, not too many."""
        if rest.count(0) != len(rest):
            where = self._position + self._trailer + len(rest) - len(rest.lstrip(b"\0"))
            raise PackageInvalid(
                "unreadable-package",
                f"data follows the end of the tar archive (at byte {where}, after the "
                f"end-of-archive block at byte {self._position - BLOCK})",
            )
        self._trailer += len(rest)
        if self._trailer > TRAILER_MAX:
            raise PackageInvalid(
                "unreadable-package",
                f"more than {TRAILER_MAX} zero bytes follow the end of the tar archive",
            )

    def _read_header(self, block: bytes) -> None:
        where = self._position
        if block.count(0) == BLOCK:
            if where == 0:
                raise PackageInvalid(
                    "unreadable-package", "the package is not a tar archive: it begins with zeros"
                )
            if self._pax_pending or self._long_name_pending:
                raise PackageInvalid(
                    "unreadable-package", f"the extended header before byte {where} has no member"
                )
            self._ended = True
            return
        self._check_header(block, where)
        size = _number(block[124:136])
        kind = block[156:157]
        if size is None or size < 0:
            raise PackageInvalid(
                "unreadable-package", f"the tar header at byte {where} has no size"
            )
        if kind == SPARSE:
            raise PackageInvalid("unreadable-package", f"{_name(block)} is a sparse file")
        if kind in PAX_TYPES or kind == GLOBAL_PAX or kind in LONG_NAME_TYPES:
            if size > MAX_HEADER:
                raise PackageInvalid("unreadable-package", f"a tar header of {size} bytes")
            if kind in LONG_NAME_TYPES:
                self._long_name_pending = True
            else:
                if kind in PAX_TYPES and self._pax_pending:
                    # tarfile lets the first one win, most tools the last: take neither.
                    raise PackageInvalid(
                        "unreadable-package", f"two pax headers for one member at byte {where}"
                    )
                self._extended, self._extended_size, self._extended_type = bytearray(), size, kind
                self._pax_pending = self._pax_pending or kind in PAX_TYPES
            self._skip = _padded(size)
            if not self._skip and self._extended is not None:
                self._read_pax(b"")
                self._extended = None
            return
        if self._pax_size is not None:
            size = self._pax_size
        self._pax_size, self._pax_pending, self._long_name_pending = None, False, False
        old_directory = kind == OLD_REGULAR and block[:100].split(b"\0")[0].endswith(b"/")
        if kind in DATALESS_TYPES or old_directory:
            return
        if size > self._size_cap:
            raise PackageTooLarge(
                f"{_name(block)} holds {size} bytes: more than package_size_cap "
                f"({self._size_cap} bytes)"
            )
        self._skip = _padded(size)

    def _check_header(self, block: bytes, where: int) -> None:
        """A header's checksum and magic, at once: data that is no tar is refused at
        its first block."""
        checksum = _number(block[148:156])
        unsigned = 256 + sum(block) - sum(block[148:156])  # the field counts as spaces
        problem = None
        if checksum != unsigned and checksum != 256 + sum(SIGNED.unpack(block)):
            problem = "its checksum is wrong"
        elif block[257:263] not in USTAR_MAGICS:
            problem = "it lacks the ustar magic"
        if problem is None:
            return
        if where == 0:
            raise PackageInvalid(
                "unreadable-package",
                f"the package is not a tar archive (nor a gzip of one): its first block is "
                f"no tar header ({problem})",
            )
        raise PackageInvalid(
            "unreadable-package", f"the block at byte {where} is no tar header ({problem})"
        )

    def _read_pax(self, data: bytes) -> None:
        """The records of a pax header that tell where the next header lies."""
        records = {}
        position = 0
        while (match := PAX_RECORD.match(data, position)) is not None:
            length = int(match[1])
            if length == 0:
                raise PackageInvalid("unreadable-package", "a pax header is malformed")
            records[match[2]] = data[match.end(2) + 1 : match.start(1) + length - 1]
            position += length
        if any(keyword.startswith(b"GNU.sparse.") for keyword in records):
            raise PackageInvalid("unreadable-package", "the package holds a sparse file")
        if b"size" not in records:
            return
        if self._extended_type == GLOBAL_PAX:
            # tarfile applies a global size to members it has already skipped past
            raise PackageInvalid("unreadable-package", "a global pax header sets a size")
        try:
            self._pax_size = int(records[b"size"])
        except ValueError:
            raise PackageInvalid("unreadable-package", "a pax header has a bad size") from None


def _number(field: bytes) -> int | None:
    """A tar number field (octal text, or base-256 for large ones), as tarfile reads it;
    None if it is not one."""
    if field[0] in (0o200, 0o377):
        number = int.from_bytes(field[1:], "big")
        return number - 256 ** (len(field) - 1) if field[0] == 0o377 else number
    try:
        return int(field.split(b"\0", 1)[0].decode("ascii").strip() or "0", 8)
    except ValueError:  # UnicodeDecodeError included
        return None


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _name(block: bytes) -> str:
    return block[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
