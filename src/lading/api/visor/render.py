"""VISoR's answers: JSON, or XML when the client's Accept prefers it; errors alike
(``{"code": 404, "message": ...}`` or ``<error><code>404</code>...</error>``)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lading.http.failures import Failure

XML = "application/xml"
JSON = "application/json"
XML_TYPES = (XML, "text/xml")
HEADER_MESSAGE_LIMIT = 1024  # characters of an error message in x-error-message
# An XML element name (ASCII letters, digits, _ . -, not starting with a digit, . or -,
# nor with "xml"); other attribute names become <attribute name="...">.
ELEMENT_NAME = re.compile(r"(?!xml)[A-Za-z_][A-Za-z0-9_.-]*", re.IGNORECASE | re.ASCII)
# Characters XML 1.0 cannot carry, even escaped.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def wants_xml(headers: Headers) -> bool:
    """Whether Accept asks for XML over JSON: by quality, then by order; wildcards
    prefer neither, and JSON is the default."""
    best: dict[bool, tuple[float, int]] = {}
    for index, item in enumerate(headers.get("accept", "").split(",")):
        media, *parameters = (part.strip().lower() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media in (*XML_TYPES, JSON):
            rank = (quality, -index)
            is_xml = media in XML_TYPES
            best[is_xml] = max(best.get(is_xml, rank), rank)
    return True in best and (False not in best or best[True] > best[False])


def answer(
    headers: Headers,
    root: str,
    body: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    status: int = 200,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """``{root: body}`` in JSON, or ``<root>`` in XML (a list: one ``<image>`` each)."""
    if not wants_xml(headers):
        return JSONResponse({root: body}, status, dict(extra or {}))
    element = ElementTree.Element(root)
    if isinstance(body, Mapping):
        _fill(element, body)
    else:
        for item in body:
            _fill(ElementTree.SubElement(element, "image"), item)
    return _xml(element, status, extra)


def visor_error(request: Request, failure: Failure) -> Response:
    """The error style of the VISoR face (``lading.http.failures.ErrorStyle``).

    A 401 is answered 403, as VISoR answered a request it could not authenticate: its
    clients read a 401 as data. The message is also in ``x-error-message``, where VISoR
    put it for a HEAD, whose answer has no body (every answer carries it: the style does
    not know the method, and the header costs a GET nothing)."""
    status = 403 if failure.status == 401 else failure.status
    extra = {
        name: value
        for name, value in (failure.headers or {}).items()
        if status == failure.status or name.lower() != "www-authenticate"
    }
    extra["x-error-message"] = _header_text(failure.message)
    if not wants_xml(request.headers):
        body = {"code": status, "message": failure.message}
        return JSONResponse(body, status, extra)
    element = ElementTree.Element("error")
    _fill(element, {"code": status, "message": failure.message})
    return _xml(element, status, extra)


def _header_text(message: str) -> str:
    """The message as a header value can carry it: one line of Latin-1, bounded."""
    line = " ".join(message.split())[:HEADER_MESSAGE_LIMIT]
    return line.encode("latin-1", "replace").decode("latin-1")


def _fill(element: ElementTree.Element, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if ELEMENT_NAME.fullmatch(key):
            child = ElementTree.SubElement(element, key)
        else:
            child = ElementTree.SubElement(element, "attribute", name=NOT_XML.sub("\ufffd", key))
        child.text = NOT_XML.sub("\ufffd", str(value))


def _xml(element: ElementTree.Element, status: int, extra: Mapping[str, str] | None) -> Response:
    text = ElementTree.tostring(element, encoding="unicode", xml_declaration=False)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'
    return Response(body, status, dict(extra or {}), media_type=XML)
