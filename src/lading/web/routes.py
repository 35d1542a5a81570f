"""The UI's routes, mounted at /ui by the application (``lading.faces``).

Each is named, so that pages, redirects and templates build its path from its name
(``path_for(request, "artifact", artifact_id=...)``, ``path("artifact", ...)`` in a
template); the routes of one path share its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lading.web import actions, signin, uploads, views
from lading.web.resumable import SessionUploads

STATIC = Path(__file__).with_name("static")
ARTIFACT = "/artifacts/{artifact_id}"


def routes(resumable: Sequence[BaseRoute]) -> list[BaseRoute]:
    """The UI's routes; ``resumable``: the tus face's, which the page's script uploads with
    (``lading.web.resumable``)."""
    return [
        Route("/", views.artifact_list, methods=["GET"], name="list"),
        Route("/sign-in", signin.sign_in_form, methods=["GET"], name="sign_in"),
        Route("/sign-in", signin.sign_in, methods=["POST"], name="sign_in"),
        Route("/sign-out", signin.sign_out, methods=["POST"], name="sign_out"),
        Route("/upload", uploads.upload_form, methods=["GET"], name="upload"),
        Route("/upload", uploads.upload_with_form, methods=["POST"], name="upload"),
        Route("/import", actions.import_form, methods=["GET"], name="import"),
        Route("/import", actions.start_import, methods=["POST"], name="import"),
        Route(ARTIFACT, views.artifact_page, methods=["GET"], name="artifact"),
        Route(f"{ARTIFACT}/download", uploads.download, methods=["GET"], name="download"),
        Route(f"{ARTIFACT}/delete", actions.confirm_delete, methods=["GET"], name="delete"),
        Route(f"{ARTIFACT}/delete", actions.delete, methods=["POST"], name="delete"),
        Route(f"{ARTIFACT}/publish", actions.publish, methods=["POST"], name="publish"),
        Route(f"{ARTIFACT}/unpublish", actions.unpublish, methods=["POST"], name="unpublish"),
        Route("/tasks/{task_id}", views.task_page, methods=["GET"], name="task"),
        # What the pages' scripts call: JSON in answers and errors.
        Route("/api/artifacts", uploads.create_artifact, methods=["POST"], name="new_artifact"),
        Route(f"/api{ARTIFACT}/data", uploads.upload_data, methods=["PUT"], name="data"),
        Route("/api/tasks/{task_id}", views.task_progress, methods=["GET"], name="progress"),
        Mount("/api/uploads", app=SessionUploads(resumable), name="uploads"),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
