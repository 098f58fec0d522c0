"""A rich progress bar that is a no-op when progress is off (tests, --quiet, the scheduler)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class _Tracker:
    def __init__(self, progress: Progress | None, task) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)


@contextmanager
def bar(enabled: bool, label: str, total: int | None) -> Iterator[_Tracker]:
    """Show `label` with a bar of `total` units on stderr while the block runs."""
    if not enabled:
        yield _Tracker(None, None)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield _Tracker(progress, progress.add_task(label, total=total))
