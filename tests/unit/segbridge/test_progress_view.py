"""segbridge.progress_view: core's events become one rich bar per label; off means no callback at all."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from basics.progress import ProgressEvent
from segbridge.progress_view import bars

pytestmark = pytest.mark.unit


def test_off_yields_no_callback():
    with bars(False) as progress:
        assert progress is None


def test_each_label_gets_one_bar_that_follows_its_events():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with bars(True, console=console) as progress:
        progress(ProgressEvent("sap.products", 3, 10))
        progress(ProgressEvent("wms.picks", 1, None))
        progress(ProgressEvent("sap.products", 10, 10, finished=True))
        tasks = {t.description: t for t in progress._progress.tasks}
    assert sorted(tasks) == ["sap.products", "wms.picks"]
    assert (tasks["sap.products"].completed, tasks["sap.products"].total) == (10, 10)
    assert tasks["wms.picks"].completed == 1 and tasks["wms.picks"].total is None
    assert "sap.products" in out.getvalue() and "10/10" in out.getvalue()


def test_a_bar_with_a_total_shows_the_time_left_from_its_rate():
    """Half done after 10 s on the bar's clock, at 5 per second: 10 s left (no wall clock involved)."""
    now = [0.0]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with bars(True, console=console, get_time=lambda: now[0]) as progress:
        progress(ProgressEvent("sap.products", 0, 100))
        for second, done in ((5.0, 25), (10.0, 50)):
            now[0] = second
            progress(ProgressEvent("sap.products", done, 100))
        [task] = progress._progress.tasks
        assert task.time_remaining == pytest.approx(10.0)
        progress._progress.refresh()
    assert "eta" in out.getvalue() and "0:00:10" in out.getvalue()
