"""SIGTERM and SIGINT as a stop request: the shell owns the process's signals, core only sees an event.

Long commands (`pull`, `apply`, `run`) hand core a `threading.Event`; core checks it between
batches, keeps its state and stops cleanly. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("segbridge.cli")


@contextmanager
def stop_on_signals(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Yield an event that SIGTERM/SIGINT set while the block runs (handlers restored afterwards)."""
    stop = stop if stop is not None else threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals reach the main thread only
        return

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("signal %s: finishing the current batch, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
