"""The UI's paths, built from its routes' names (``lading.web.routes``), never written."""

from __future__ import annotations

from starlette.requests import Request

# The name ``lading.faces`` mounts the UI under: its routes are named ``web:<name>``.
NAMESPACE = "web"


def path_for(request: Request, name: str, /, **params: object) -> str:
    """The path of the UI's route named ``name``: ``path_for(request, "task", task_id=...)``."""
    return str(request.app.url_path_for(f"{NAMESPACE}:{name}", **params))


def root(request: Request) -> str:
    """Where the UI is mounted (``/ui``): its cookie's path, and what a page's path starts
    with."""
    return path_for(request, "list").rstrip("/")
