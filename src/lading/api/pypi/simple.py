"""The simple repository API's pages: PEP 503's HTML and PEP 691's JSON, chosen by the
request's ``Accept``, with PEP 592's yanks, PEP 658/714's core metadata and PEP 700's
``versions``, ``size`` and ``upload-time``.

File URLs are relative to the page (``../../files/<project>/<file>``): they hold through
any proxy and any ``public_endpoint``, and pip and uv resolve them against the page.
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from lading.db.pypi import FileRow
from lading.errors import NotAcceptable
from lading.services.pypi import ProjectPage

API_VERSION = "1.1"  # PEP 700's fields
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
# What each media type a client may name is answered with.
ANSWERS = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
    "text/*": TEXT_HTML,
    "*/*": TEXT_HTML,
}
# Between types of one quality, the server's preference: JSON, then the HTML versions.
PREFERENCE = (JSON_V1, HTML_V1, TEXT_HTML)


def negotiate(accept: str | None) -> str:
    """The media type to answer with: the best ``Accept`` takes (text/html when it names
    none); NotAcceptable when it takes only others."""
    if not accept or not accept.strip():
        return TEXT_HTML
    best: tuple[float, int] | None = None
    chosen = None
    for entry in accept.split(","):
        media_type, *parameters = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        answer = ANSWERS.get(media_type.lower())
        if answer is None or not 0 < quality <= 1:
            continue
        rank = (quality, -PREFERENCE.index(answer))
        if best is None or rank > best:
            best, chosen = rank, answer
    if chosen is None:
        raise NotAcceptable(f"this index answers {', '.join(PREFERENCE)}; Accept takes none")
    return chosen


def index_page(request: Request, projects: list[str], private: bool) -> Response:
    media_type = negotiate(request.headers.get("accept"))
    if media_type == JSON_V1:
        body = json.dumps(
            {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in projects]}
        )
    else:
        links = "".join(f'    <a href="{quote(p)}/">{escape(p)}</a>\n' for p in projects)
        body = _html("Simple index", links)
    data = body.encode()
    return _answer(request, data, _etag(data), media_type, private)


def project_page(request: Request, page: ProjectPage, private: bool) -> Response:
    """The page, written once per media type while its serial holds (``page.rendered``,
    kept with the page by the service's cache)."""
    media_type = negotiate(request.headers.get("accept"))
    rendered = page.rendered.get(media_type)
    if rendered is None:
        data = _project_body(page, media_type).encode()
        rendered = page.rendered[media_type] = (data, _etag(data))
    headers = {"x-pypi-last-serial": str(page.serial)}
    return _answer(request, *rendered, media_type, private, headers)


def _project_body(page: ProjectPage, media_type: str) -> str:
    base = f"../../files/{quote(page.name)}/"
    if media_type == JSON_V1:
        return json.dumps(
            {
                "meta": {"api-version": API_VERSION},
                "name": page.name,
                "versions": page.versions,
                "files": [_file_json(base, file) for file in page.files],
            }
        )
    links = "".join(_file_link(base, file) for file in page.files)
    return _html(f"Links for {escape(page.name)}", links)


def _file_link(base: str, file: FileRow) -> str:
    attributes = [f'href="{escape(base + quote(file.filename))}#sha256={file.sha256}"']
    if file.requires_python:
        attributes.append(f'data-requires-python="{escape(file.requires_python)}"')
    if file.core_metadata_sha256:
        value = f"sha256={file.core_metadata_sha256}"
        attributes += [f'data-dist-info-metadata="{value}"', f'data-core-metadata="{value}"']
    if file.yanked:
        attributes.append(f'data-yanked="{escape(file.yanked_reason or "")}"')
    return f"    <a {' '.join(attributes)}>{escape(file.filename)}</a><br/>\n"


def _file_json(base: str, file: FileRow) -> dict[str, object]:
    metadata: object = False
    if file.core_metadata_sha256:
        metadata = {"sha256": file.core_metadata_sha256}
    return {
        "filename": file.filename,
        "url": base + quote(file.filename),
        "hashes": {"sha256": file.sha256},
        "requires-python": file.requires_python,
        "size": file.size,
        "upload-time": file.uploaded_at.isoformat(timespec="microseconds") + "Z",
        "yanked": (file.yanked_reason or True) if file.yanked else False,
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
    }


def _html(title: str, links: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
        f"{links}  </body>\n</html>\n"
    )


def _etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def _answer(
    request: Request,
    data: bytes,
    etag: str,
    media_type: str,
    private: bool,
    extra: dict[str, str] | None = None,
) -> Response:
    """The page, with its ETag (304 when the client's copy is current)."""
    headers = {
        **(extra or {}),
        "etag": etag,
        "vary": "Accept, Authorization",
        # Revalidated on every use: an upload or a yank shows at once.
        "cache-control": ("private" if private else "public") + ", max-age=0, must-revalidate",
    }
    if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    content_type = media_type if media_type == JSON_V1 else f"{media_type}; charset=utf-8"
    return Response(data, 200, headers, media_type=content_type)
