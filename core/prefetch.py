"""Read the next page while the current one is mapped and stored.

A pull spends its time in two places that can overlap: the connector waiting for and parsing
the next page, and the store writing the current one (SQLite and psycopg release the GIL while
they work). `prefetch` runs an iterator in a worker thread, at most `depth` items ahead, and
re-raises its exceptions in the caller, so checkpoints still commit strictly in order.
`prefetch_ready` hands over, each time, every item the worker has ready: a consumer slower
than the source (mapping and storing against a fast API) then takes several pages at once and
pays its per-load costs once for them.

Example:
    >>> list(prefetch(iter([1, 2, 3])))
    [1, 2, 3]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items` produced by a worker thread; stopping early (break, error) stops the worker."""
    for ready in prefetch_ready(items, depth):
        yield from ready


def prefetch_ready(items: Iterable[T], depth: int = 2) -> Iterator[list[T]]:
    """Yield lists of `items` in order: each time the next item (waited for) and every further one the
    worker already holds (at most `depth` in all). An error is raised after the items before it."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer and re-raised there
            put(_Failure(exc))

    worker = threading.Thread(target=work, name="segbridge-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ready, end = _take(buffer)
            if ready:
                yield ready
            if end is _DONE:
                return
            if isinstance(end, _Failure):
                raise end.exc
    finally:
        stop.set()
        worker.join(timeout=5)


def _take(buffer: queue.Queue) -> tuple[list, object]:
    """The items waiting in `buffer` (blocking for the first) and what ended them: the end marker, a
    failure, or None (more to come)."""
    ready: list = []
    item = buffer.get()
    while True:
        if item is _DONE or isinstance(item, _Failure):
            return ready, item
        ready.append(item)
        try:
            item = buffer.get_nowait()
        except queue.Empty:
            return ready, None
