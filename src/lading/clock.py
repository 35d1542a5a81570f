"""One clock for what lading records and checks, and one way to write a moment.

The catalogue stores naive UTC (SQLite keeps no zone), so ``Clock.now`` answers in it.
Every service takes its clock from ``Services.build``: a test passes a clock of its own
(a subclass whose ``now`` it sets) instead of rewriting rows or sleeping, as httpx lets a
test pass its own transport.
"""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Wall-clock time: the system's, unless a subclass answers ``now`` otherwise."""

    def now(self) -> datetime:
        """The time now, naive UTC, as the catalogue stores it."""
        return datetime.now(UTC).replace(tzinfo=None)

    def aware(self) -> datetime:
        """The time now with its zone (UTC), to compare with a moment a client sent."""
        return self.now().replace(tzinfo=UTC)

    def seconds(self) -> float:
        """The time now in Unix seconds (signatures carry it so)."""
        return self.aware().timestamp()


def timestamp(moment: datetime, timespec: str = "seconds") -> str:
    """``moment`` (UTC, naive or not) as ISO 8601 with a ``Z``, as Glance and the events
    write it: to the second unless ``timespec`` says otherwise (``"milliseconds"``)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec=timespec) + "Z"
