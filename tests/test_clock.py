"""The clock every service shares, and the one way a moment is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from lading.clock import Clock, timestamp
from tests.clock import MovableClock


def test_a_moment_is_written_to_the_second_or_the_millisecond_with_a_z() -> None:
    moment = datetime(2026, 12, 6, 10, 29, 20, 123456)
    assert timestamp(moment) == "2026-12-06T10:29:20Z"
    assert timestamp(moment, "milliseconds") == "2026-12-06T10:29:20.123Z"
    assert timestamp(moment.replace(tzinfo=UTC)) == "2026-12-06T10:29:20Z"
    elsewhere = moment.replace(tzinfo=timezone(timedelta(hours=2)))
    assert timestamp(elsewhere) == "2026-12-06T08:29:20Z"


def test_the_clock_answers_naive_utc_and_a_test_may_move_it() -> None:
    system = Clock().now()
    assert system.tzinfo is None
    assert abs(datetime.now(UTC).replace(tzinfo=None) - system) < timedelta(seconds=5)
    clock = MovableClock()
    clock.move(days=2)
    assert timedelta(days=2) <= clock.now() - system < timedelta(days=2, seconds=5)
    assert abs(clock.seconds() - clock.aware().timestamp()) < 1
    assert clock.aware().tzinfo is UTC
