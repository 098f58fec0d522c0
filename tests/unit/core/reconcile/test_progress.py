"""core.reconcile.progress: the bar context manager; switched off it is a silent no-op."""

from __future__ import annotations

import pytest

from core.reconcile.progress import bar

pytestmark = pytest.mark.unit


def test_disabled_bar_is_a_silent_no_op(capsys):
    with bar(False, "reconcile: read back", 3) as tracker:
        tracker.advance()
        tracker.advance(2)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_enabled_bar_runs_the_block_and_lets_errors_through():
    done = []
    with bar(True, "reconcile: read back", 2) as tracker:
        tracker.advance(2)
        done.append(True)
    assert done == [True]
    with pytest.raises(KeyError), bar(True, "reconcile: read back", None) as tracker:
        tracker.advance()
        raise KeyError("boom")
