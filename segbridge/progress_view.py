"""Renders core's progress events as rich progress bars on stderr (the one progress helper of the CLI).

Core reports through `basics.progress` callbacks and never draws; the shell decides whether a
person is watching. `bars(enabled)` yields a callback that opens one bar per label on its first
event, or None when progress is off (`--quiet`, `--no-progress`, output not a terminal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from basics.progress import ProgressCallback, ProgressEvent


class RichProgress:
    """A `ProgressCallback` drawing one rich task per event label."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        task = self._tasks.get(event.label)
        if task is None:
            task = self._tasks[event.label] = self._progress.add_task(event.label, total=event.total)
        self._progress.update(task, completed=event.done, total=event.total)


@contextmanager
def bars(enabled: bool = True, console: Console | None = None,
         get_time: Callable[[], float] | None = None) -> Iterator[ProgressCallback | None]:
    """Progress bars on stderr while the block runs; yields None when `enabled` is false.

    Each bar shows done/total, the time spent and, where the total is known, the time left
    ("eta", from the recent rate); `get_time` is the clock (tests pass their own).
    """
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    kwargs = {"get_time": get_time} if get_time is not None else {}
    with Progress(*columns, console=console or Console(stderr=True), transient=False, **kwargs) as progress:
        yield RichProgress(progress)
