"""``multipart/form-data`` read as it arrives: small fields first, then one file streamed.

Starlette's form parser spools files to disk before the endpoint sees anything; signed
uploads need the fields (and the signature over them) checked before the file's bytes
go anywhere, and the bytes to flow straight into the store. So the form must give its
fields before its file, as browsers, curl ``-F`` in order, and HTTP libraries do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from lading.errors import BadRequest, TooLarge
from lading.http.requests import body_stream

MAX_FIELD = 64 * 1024
MAX_FIELDS = 64
MAX_BOUNDARY = 70  # RFC 2046


@dataclass(slots=True)
class FileField:
    """The form's file: its field name, the name the client gave it, and its bytes."""

    name: str
    filename: str
    chunks: AsyncIterator[bytes]
    # At least this many bytes, by the request's Content-Length (None without one): what
    # is left of the body once the file's headers are read, less the closing boundary.
    # An epilogue after that boundary (which RFC 2046 allows and no client sends) would
    # be counted as file.
    size_at_least: int | None = None


@dataclass(slots=True)
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    ready: bool = False  # its headers are read
    done: bool = False


class FormReader:
    """Reads one request's form: ``fields()`` up to the file, then the file's chunks."""

    def __init__(
        self,
        request: Request,
        max_field: int = MAX_FIELD,
        max_fields: int = MAX_FIELDS,
        repeats: bool = False,
    ) -> None:
        """``repeats``: a field may come again (the Python package index's upload repeats
        ``classifiers``): its first value is kept."""
        self._max_field, self._max_fields, self._repeats = max_field, max_fields, repeats
        self._count = 0
        media_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary", b"")
        if media_type != b"multipart/form-data" or not 0 < len(boundary) <= MAX_BOUNDARY:
            raise BadRequest(
                f"the body must be multipart/form-data with a boundary of 1 to {MAX_BOUNDARY} bytes"
            )
        self._body = body_stream(request).__aiter__()
        length = request.headers.get("content-length", "")
        self._length = int(length) if length.isdigit() else None
        self._fed = 0  # bytes of the body given to the parser
        self._closing = len(boundary) + 8  # CRLF "--" boundary "--" CRLF
        self._parts: list[_Part] = []
        self._header = [bytearray(), bytearray()]
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self._parts.append(_Part()),
                "on_header_field": lambda data, start, end: self._header[0].extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header[1].extend(data[start:end]),
                "on_header_end": self._end_header,
                "on_headers_finished": self._end_headers,
                "on_part_data": lambda data, start, end: self._parts[-1].data.extend(
                    data[start:end]
                ),
                "on_part_end": self._end_part,
                "on_end": self._end,
            },
        )

    async def fields(self) -> tuple[dict[str, str], FileField]:
        """Every field before the file, and the file; BadRequest for any other shape."""
        fields: dict[str, str] = {}
        while True:
            part = await self._next_headers()
            if part is None:
                raise BadRequest("the form has no file")
            name, filename = _disposition(part)
            if filename is not None:
                least = None
                if self._length is not None:  # bytes the parser holds back count as unknown
                    least = len(part.data) + max(self._length - self._fed - self._closing, 0)
                return fields, FileField(name, filename, self._file_chunks(part), least)
            while len(part.data) <= self._max_field and not part.done:
                await self._feed()
            if len(part.data) > self._max_field:
                raise TooLarge(f"form field {name!r} is larger than {self._max_field} bytes")
            if (name in fields and not self._repeats) or self._count == self._max_fields:
                raise BadRequest(
                    f"form field {name!r} repeated, or more than {self._max_fields} fields"
                )
            self._count += 1
            try:
                value = part.data.decode()
            except UnicodeDecodeError:
                raise BadRequest(f"form field {name!r} is not UTF-8") from None
            fields.setdefault(name, value)
            self._parts.remove(part)

    async def _next_headers(self) -> _Part | None:
        """The next part once its headers are read; None at the end of the form."""
        while not (self._parts and self._parts[0].ready):  # fields read are removed
            if self._ended:
                return None
            await self._feed()
        return self._parts[0]

    async def _file_chunks(self, part: _Part) -> AsyncIterator[bytes]:
        while True:
            if part.data:
                chunk = bytes(part.data)
                part.data.clear()
                yield chunk
            if part.done:
                break
            await self._feed()
        while not self._ended:  # what follows the file may only be the closing boundary
            await self._feed()
        if len(self._parts) > 1:
            raise BadRequest("the file must be the form's last part")

    async def _feed(self) -> None:
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            raise BadRequest("the form ends before its closing boundary") from None
        self._fed += len(chunk)
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise BadRequest(f"malformed multipart/form-data: {exc}") from None

    def _end_header(self) -> None:
        name, value = (bytes(item).decode("latin-1") for item in self._header)
        self._parts[-1].headers[name.strip().lower()] = value.strip()
        self._header = [bytearray(), bytearray()]

    def _end_headers(self) -> None:
        self._parts[-1].ready = True

    def _end_part(self) -> None:
        self._parts[-1].done = True

    def _end(self) -> None:
        self._ended = True


def _disposition(part: _Part) -> tuple[str, str | None]:
    kind, options = parse_options_header(part.headers.get("content-disposition", ""))
    name = options.get(b"name")
    if kind != b"form-data" or name is None:
        raise BadRequest("every form part needs Content-Disposition: form-data with a name")
    filename = options.get(b"filename")
    try:
        return name.decode(), None if filename is None else filename.decode()
    except UnicodeDecodeError:
        raise BadRequest("form field and file names must be UTF-8") from None
