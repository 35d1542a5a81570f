"""Logging for ``lading serve``: plain lines, or one JSON object per line.

``lading serve`` hands ``dict_config`` to granian, which applies it in every worker
process; access log lines come from ``lading.http.observe`` on the ``lading.access``
logger.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

ACCESS = "lading.access"
FIELDS = "fields"  # the ``extra`` key whose dict a JSON line carries as its own keys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def dict_config(level: str, log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for every logger, granian's own included."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "lading",
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lading": formatter},
        "handlers": {"lading": handler},
        "loggers": {
            "_granian": {"handlers": ["lading"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # Its plugins' set-up, a line each at every migration: nothing to act on. The
            # migrations it runs stay logged.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"handlers": ["lading"], "level": level.upper()},
    }
