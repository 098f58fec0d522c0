"""Read the next page while the current one is mapped and stored.

A pull spends its time in two places that can overlap: the connector waiting for and parsing
the next page, and the store writing the current one (SQLite and psycopg release the GIL while
they work). `prefetch` runs an iterator in a worker thread, at most `depth` items ahead, and
re-raises its exceptions in the caller, so checkpoints still commit strictly in order.

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
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
