"""A clock a test moves on, handed to ``Services.build`` (or a service) instead of
rewriting rows into the past or sleeping until a lease runs out."""

from __future__ import annotations

from datetime import datetime, timedelta

from lading.clock import Clock


class MovableClock(Clock):
    """The system's time plus however far the test has moved it: moments still follow
    one another as they do in a real run."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def now(self) -> datetime:
        return super().now() + self.ahead

    def move(self, **by: float) -> None:
        """Move on by a ``timedelta``'s arguments (``seconds=2``, ``days=2``)."""
        self.ahead += timedelta(**by)
