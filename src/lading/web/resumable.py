"""Resumable uploads from the UI's pages: the tus face's routes served again at
``/ui/api/uploads/``, under the UI's rules.

The page's script cannot use ``/uploads/`` itself: the session's cookie is kept to the
UI's paths (``Path=/ui``), and a page holds no token to send instead (it never sees the
cookie's, which is HttpOnly). Here the same protocol, the same endpoints and the same
service answer with the session's caller: a request that changes something (``POST``,
``PATCH``, ``DELETE``) must come from the UI's own pages, as every other action of the UI
(``check_origin``), and a visitor not signed in gets 401. Nothing new is minted: no
token, no second kind of credential. The ``Location`` of a new upload is given under this
path, so that the script's next requests carry the cookie too.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute, Router
from starlette.types import Message, Receive, Scope, Send

from lading.errors import Unauthorized
from lading.web.session import check_origin, session_of

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionUploads:
    """The tus face's routes (given by the wiring, ``lading.faces``: the UI does not
    import the API's faces), called as the signed-in visitor of the UI."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._router = Router(list(routes))

    @property
    def routes(self) -> list[BaseRoute]:
        """Its routes, as a mount shows them (url_path_for, the OpenAPI check)."""
        return self._router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        request = Request(scope, receive)
        session = await session_of(request)
        if scope["method"] not in READS:
            check_origin(request)
        if session is None:
            raise Unauthorized("sign in first: this needs a token")
        scope.setdefault("state", {})["caller"] = session.caller
        here = scope.get("root_path", "").rstrip("/")

        async def relocated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if location := headers.get("location"):
                    # The face names its own path (/uploads/<id>): the same upload, here.
                    headers["location"] = f"{here}/{location.rstrip('/').rpartition('/')[2]}"
            await send(message)

        await self._router(scope, receive, relocated)
