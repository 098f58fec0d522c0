"""The progress protocol: how long work says how far it has got, without knowing who listens.

Core never draws on a terminal. A long step (a pull, an apply, a reconcile read-back) takes an
optional `progress` callback and calls it with a `ProgressEvent` whenever its count moves; the
CLI renders the events with rich (`segbridge.progress_view`), the scheduler passes nothing, a
test may collect them in a list.

Example:
    >>> seen = []
    >>> counter = ProgressCounter(seen.append, "sap.products", total=3)
    >>> counter.advance(2); counter.finish()
    >>> [(e.label, e.done, e.total, e.finished) for e in seen]
    [('sap.products', 2, 3, False), ('sap.products', 2, 2, True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one labelled piece of work: `done` of `total` units (None while unknown)."""

    label: str
    done: int
    total: int | None = None
    finished: bool = False


class ProgressCallback(Protocol):
    """Anything that takes a `ProgressEvent` (a rich renderer, a list's `append`, a logger)."""

    def __call__(self, event: ProgressEvent) -> None: ...


class ProgressCounter:
    """Counts units of one labelled piece of work and reports each change to `callback` (if any)."""

    def __init__(self, callback: ProgressCallback | None, label: str, total: int | None = None) -> None:
        self.callback, self.label, self.total, self.done = callback, label, total, 0

    def update(self, done: int, total: int | None = None) -> None:
        """Report an absolute count (and a total, once the source tells it)."""
        self.done = done
        if total is not None:
            self.total = total
        self._emit(False)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def finish(self) -> None:
        """The work is over: the total becomes what was done (a source may have over- or under-counted)."""
        self.total = self.done
        self._emit(True)

    def _emit(self, finished: bool) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(self.label, self.done, self.total, finished))

