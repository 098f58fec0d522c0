"""prefetch: same items in order, errors re-raised in the caller, early stop ends the worker."""

import threading
import time

import pytest

from core.prefetch import prefetch


def test_items_arrive_in_order_and_ahead_of_the_consumer():
    produced = []

    def source():
        for i in range(5):
            produced.append(i)
            yield i

    seen = []
    for item in prefetch(source(), depth=2):
        time.sleep(0.02)
        seen.append(item)
        if item == 0:
            time.sleep(0.1)
            assert len(produced) >= 2  # the worker read ahead while we were busy
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
    time.sleep(0.3)
    assert not any(t.name == "segbridge-prefetch" and t.is_alive() for t in threading.enumerate())
