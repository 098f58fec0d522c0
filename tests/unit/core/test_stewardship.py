"""core.stewardship: the queue's pages and filters, bulk selection, assignment, versions, aging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from basics.errors import ConfigError, StaleError
from core import stewardship as st
from core.model import utcnow
from core.reconcile import Observation, get_exception, history, upsert_observations

pytestmark = pytest.mark.unit


@pytest.fixture
def filed(store):
    upsert_observations(store, [Observation("value_mismatch", ("sap", "crm")[i % 2], "product", f"P{i}", "abc",
                                            "A", "B", severity=("high", "low")[i % 2]) for i in range(6)], run_id=None)
    return store


def test_the_queue_pages_and_filters(filed):
    rows, total = st.queue(filed, st.QueueFilter(system=["sap"]), page=1, size=2, sort="id")
    assert total == 3 and [r.id for r in rows] == [1, 3]
    rows, _ = st.queue(filed, st.QueueFilter(system=["sap"]), page=2, size=2, sort="id")
    assert [r.id for r in rows] == [5]
    assert st.queue(filed, st.QueueFilter(key="P1"), sort="id")[1] == 1
    assert st.queue(filed, st.QueueFilter(key="P%"), sort="id")[1] == 0  # wildcards are literal


def test_bulk_selection_by_filter_takes_only_rows_that_can_move(filed):
    st.move(filed, [1], "waived", "ok", "stu")
    assert st.chosen_ids(filed, None, st.QueueFilter(system=["sap"]), "acknowledged") == [3, 5]
    with pytest.raises(ConfigError, match="give ids or at least one filter"):
        st.chosen_ids(filed, None, st.QueueFilter(), "acknowledged")


def test_assign_is_version_checked_and_audited(filed):
    assert st.assign(filed, [2], "stu", "ada", {2: 1}) == 1
    assert get_exception(filed, 2).owner == "stu" and get_exception(filed, 2).version == 2
    with pytest.raises(StaleError, match="now version 2, you saw 1"):
        st.assign(filed, [2], "ada", "ada", {2: 1})
    assert get_exception(filed, 2).owner == "stu"
    assert [(h.action, h.before, h.after) for h in history(filed, 2)] == [("exception_assigned", None, "stu")]


def test_a_stale_bulk_move_changes_nothing(filed):
    st.move(filed, [3], "acknowledged", None, "stu")
    with pytest.raises(StaleError):
        st.move(filed, [1, 3], "resolved", "fixed", "ada", {1: 1, 3: 1})
    assert get_exception(filed, 1).status == "open"


def test_comments_and_aging(filed):
    st.add_comment(filed, 4, "asked the buyer", "pia")
    assert [(c.author, c.text) for c in st.comments(filed, 4)] == [("pia", "asked the buyer")]
    with pytest.raises(ConfigError):
        st.add_comment(filed, 4, "  ", "pia")
    now = utcnow()
    assert st.aging(now - timedelta(days=4), "high", "open", now) == "overdue"
    assert st.aging(now - timedelta(days=2, hours=12), "high", "open", now) == "due soon"
    assert st.aging(now, "low", "open", now) == "on time"
    assert st.aging(now - timedelta(days=40), "low", "waived", now) == "closed"
    assert st.open_by_age(filed) == {"< 1 day": 6, "1-7 days": 0, "7-30 days": 0, "> 30 days": 0}
