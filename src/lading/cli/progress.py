"""Progress of a transfer or a task on stderr: a bar with speed and time left on a
terminal, a plain line every few seconds elsewhere (logs, CI), or nothing."""

from __future__ import annotations

import contextlib
import enum
import sys
import time
from collections.abc import Iterator
from typing import Protocol

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from lading.display import human_size

LINE_EVERY = 5.0  # seconds between plain progress lines


class Style(enum.StrEnum):
    AUTO = "auto"  # a bar on a terminal, lines elsewhere
    BAR = "bar"
    LINES = "lines"
    NONE = "none"


PROGRESS_OPTION = click.option(
    "--progress",
    type=click.Choice([style.value for style in Style]),
    default=Style.AUTO.value,
    show_default=True,
    help="How to show progress on stderr: a bar on a terminal and plain lines elsewhere.",
)


class Meter(Protocol):
    def show(self, done: int, total: int | None) -> None: ...


class _Silent:
    def show(self, done: int, total: int | None) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, label: str, total: int | None, start: int) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=total, completed=start)

    def show(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)


class _Lines:
    """``upload x.img: 42% 126.0 MiB of 300.0 MiB, 88.1 MiB/s, 2 s left``, now and then."""

    def __init__(self, label: str, total: int | None, start: int = 0) -> None:
        self.label, self.total, self.done, self.start = label, total, start, start
        self.started = self.said = time.monotonic()

    def show(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if time.monotonic() - self.said >= LINE_EVERY:
            self.say()

    def say(self, ending: str = "") -> None:
        self.said = time.monotonic()
        elapsed = max(self.said - self.started, 1e-6)
        speed = (self.done - self.start) / elapsed  # of this run: a resumed one starts on
        parts = [f"{self.label}:"]
        if self.total:
            percent = 100 * self.done // self.total
            parts.append(f"{percent}% {human_size(self.done)} of {human_size(self.total)},")
        else:
            parts.append(f"{human_size(self.done)},")
        parts.append(f"{human_size(speed)}/s" + ("," if ending else ""))
        if ending:
            parts.append(f"{ending} in {elapsed:.1f} s")
        elif self.total and speed:
            parts.append(f"{(self.total - self.done) / speed:.0f} s left")
        click.echo(" ".join(parts), err=True)


@contextlib.contextmanager
def meter(label: str, total: int | None, style: str, start: int = 0) -> Iterator[Meter]:
    """A meter for one transfer; ``total`` may be unknown (None); ``start``: bytes done
    before (a resumed transfer), which count towards the total but not the speed."""
    chosen = Style(style)
    if chosen is Style.AUTO:
        chosen = Style.BAR if sys.stderr.isatty() else Style.LINES
    if chosen is Style.NONE:
        yield _Silent()
    elif chosen is Style.LINES:
        lines = _Lines(label, total, start)
        yield lines
        lines.say("done")
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            yield _Bar(progress, label, total, start)
