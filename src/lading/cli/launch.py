"""What ``lading serve`` was told (its files, ``--host``, ``--port``), handed as a value to
every process it starts, each of which builds its own settings from it.

granian builds the app in each worker by calling a loader (``Granian.serve``'s
``target_loader``): lading's loaders take this value, pickled to a spawned worker, rather
than the environment, which ``lading serve`` leaves as it found it. The redirect listener,
a fresh interpreter, gets it as its argument. This module imports only the settings: the
redirect listener's interpreter does not load the server's database and stores.
"""

from __future__ import annotations

import gc
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.types import ASGIApp

from lading.settings import Settings


@dataclass(frozen=True, slots=True)
class Launch:
    """The files and address given on the command line; None: the settings' own."""

    config_file: Path | None = None
    pnda_config: Path | None = None
    host: str | None = None
    port: int | None = None

    def settings(self) -> Settings:
        return Settings.load(self.config_file, self.pnda_config, host=self.host, port=self.port)

    def argument(self) -> str:
        """As one command-line argument (JSON), for a process started afresh."""
        paths = {"config_file": self.config_file, "pnda_config": self.pnda_config}
        values = asdict(self) | {key: str(path) for key, path in paths.items() if path}
        return json.dumps(values)

    @classmethod
    def from_argument(cls, text: str) -> Launch:
        values = json.loads(text)
        return cls(
            config_file=_path(values["config_file"]),
            pnda_config=_path(values["pnda_config"]),
            host=values["host"],
            port=values["port"],
        )


def api_app(launch: Launch) -> ASGIApp:
    """The loader of each ``lading serve`` worker: the app, from the launch's settings."""
    from lading.app import create_app  # in the worker: the serving process needs it not

    return create_app(launch.settings())


def worker_app(launch: Launch) -> ASGIApp:
    """The app of a ``lading serve`` worker (``api_app``), its start-up's objects frozen:
    they stay for the worker's life, and the garbage collector's full passes no longer walk
    them. Each took 100 to 400 ms on the loaded 2-core machine, a pause for whichever
    request was under way (the first of a face, often); start-up's garbage is collected
    first."""
    app = api_app(launch)
    gc.collect()
    gc.freeze()
    return app


def registry_app(launch: Launch) -> ASGIApp:
    """The loader of the OCI registry listener's worker."""
    from lading.app import create_registry_app

    return create_registry_app(launch.settings())


def redirect_app(launch: Launch) -> ASGIApp:
    """The loader of the redirect listener's worker."""
    from lading.http.https import redirect_app

    return redirect_app(launch.settings())


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)
