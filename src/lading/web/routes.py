"""The UI's routes, mounted at /ui by the application."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lading.web import actions, signin, uploads, views

STATIC = Path(__file__).with_name("static")


def routes() -> list[BaseRoute]:
    return [
        Route("/", views.artifact_list, methods=["GET"]),
        Route("/sign-in", signin.sign_in_form, methods=["GET"]),
        Route("/sign-in", signin.sign_in, methods=["POST"]),
        Route("/sign-out", signin.sign_out, methods=["POST"]),
        Route("/upload", uploads.upload_form, methods=["GET"]),
        Route("/upload", uploads.upload_with_form, methods=["POST"]),
        Route("/import", actions.import_form, methods=["GET"]),
        Route("/import", actions.start_import, methods=["POST"]),
        Route("/artifacts/{artifact_id}", views.artifact_page, methods=["GET"]),
        Route("/artifacts/{artifact_id}/download", uploads.download, methods=["GET"]),
        Route("/artifacts/{artifact_id}/delete", actions.confirm_delete, methods=["GET"]),
        Route("/artifacts/{artifact_id}/delete", actions.delete, methods=["POST"]),
        Route("/artifacts/{artifact_id}/publish", actions.publish, methods=["POST"]),
        Route("/artifacts/{artifact_id}/unpublish", actions.unpublish, methods=["POST"]),
        Route("/tasks/{task_id}", views.task_page, methods=["GET"]),
        # What the pages' scripts call: JSON in answers and errors.
        Route("/api/artifacts", uploads.create_artifact, methods=["POST"]),
        Route("/api/artifacts/{artifact_id}/data", uploads.upload_data, methods=["PUT"]),
        Route("/api/tasks/{task_id}", views.task_progress, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
