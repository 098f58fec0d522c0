"""basics.progress: a counter reports every change of its count to the callback, and nothing without one."""

from __future__ import annotations

import pytest

from basics.progress import ProgressCounter, ProgressEvent

pytestmark = pytest.mark.unit


def test_counter_reports_updates_advances_and_the_finish():
    seen: list[ProgressEvent] = []
    counter = ProgressCounter(seen.append, "sap.products")
    counter.update(5)
    counter.update(8, total=20)
    counter.advance(2)
    counter.finish()
    assert seen == [ProgressEvent("sap.products", 5, None), ProgressEvent("sap.products", 8, 20),
                    ProgressEvent("sap.products", 10, 20), ProgressEvent("sap.products", 10, 10, finished=True)]


def test_a_total_once_known_is_kept_until_the_finish():
    seen: list[ProgressEvent] = []
    counter = ProgressCounter(seen.append, "x", total=3)
    counter.advance()
    counter.update(2)
    assert [e.total for e in seen] == [3, 3]


def test_no_callback_is_silent_but_still_counts():
    counter = ProgressCounter(None, "quiet", total=4)
    counter.advance(3)
    counter.finish()
    assert (counter.done, counter.total) == (3, 3)
