"""prefetch: same items in order, errors re-raised in the caller, early stop ends the worker; prefetch_ready
hands over everything the worker holds. Waits are on events, never on the clock."""

import threading

import pytest

from core.prefetch import prefetch, prefetch_ready

WAIT = 30  # seconds an event may take on a loaded machine; a passing test never waits that long


def test_items_arrive_in_order_and_ahead_of_the_consumer():
    read_ahead = threading.Event()

    def source():
        for i in range(5):
            if i == 2:
                read_ahead.set()  # item 2 is being produced while the consumer still holds item 0
            yield i

    seen = []
    for item in prefetch(source(), depth=2):
        if item == 0:
            assert read_ahead.wait(WAIT)  # the worker read ahead while we were busy
        seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_errors_reach_the_consumer_after_the_items_before_them():
    def source():
        yield 1
        raise ValueError("page 2 failed")

    got = []
    with pytest.raises(ValueError, match="page 2 failed"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [1]


def test_breaking_early_stops_the_worker():
    def endless():
        i = 0
        while True:
            i += 1
            yield i

    for item in prefetch(endless(), depth=1):
        if item == 3:
            break
    worker = [t for t in threading.enumerate() if t.name == "segbridge-prefetch"]
    for t in worker:
        t.join(WAIT)
    assert not any(t.is_alive() for t in worker)


def test_ready_hands_over_every_item_the_worker_holds_at_once():
    """While the consumer works on its first item the worker fills the buffer; the next take is all of it."""
    took_first, filled, release = threading.Event(), threading.Event(), threading.Event()

    def source():
        yield 0
        assert took_first.wait(WAIT)
        yield from range(1, 4)
        filled.set()  # items 1-3 are in the buffer (depth 3); the worker waits before it ends
        release.wait(WAIT)

    takes = []
    for ready in prefetch_ready(source(), depth=3):
        takes.append(ready)
        if ready == [0]:
            took_first.set()
            assert filled.wait(WAIT)
        else:
            release.set()
    assert takes == [[0], [1, 2, 3]]


def test_ready_raises_after_handing_over_the_items_before_the_error():
    def source():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for ready in prefetch_ready(source(), depth=4):
            got += ready
    assert got == [1, 2]
