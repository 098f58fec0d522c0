"""The one incremental helper: typed checkpoint, UTC instants, overlap, refusals, loop guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.connector_errors import FatalError
from connectors.incremental import Checkpoint, IncrementalOptions, PageGuard, cursor_literal, parse_instant

T = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000+0000", "2024-05-01T12:00:00+02:00",
                                  "2024-05-01T10:00:00", "/Date(1714557600000)/", "/Date(1714557600000+0000)/"])
def test_every_system_spelling_is_one_utc_instant(text):
    assert parse_instant(text) == T


@pytest.mark.parametrize("style, expected", [("iso_z", "2024-05-01T10:00:00Z"), ("iso_ms_z", "2024-05-01T10:00:00.000Z"),
                                             ("sap_datetime", "datetime'2024-05-01T10:00:00'"),
                                             ("sap_offset", "datetimeoffset'2024-05-01T10:00:00Z'"),
                                             ("sql", "2024-05-01 10:00:00")])
def test_literal_per_system(style, expected):
    assert cursor_literal(T, style) == expected


def test_a_read_starts_overlap_before_the_high_water_mark_by_default():
    cp = Checkpoint.load({"since": "2024-05-01T10:00:00Z"}, where="sf.Account")
    assert cp.lower_bound(IncrementalOptions().overlap) == T - timedelta(seconds=300)
    assert Checkpoint.load(None, where="x").lower_bound(timedelta(0)) is None


def test_observe_at_done_roundtrip():
    cp = Checkpoint.load({"since": "2024-05-01T10:00:00Z"}, where="x")
    mid = cp.observe(["2024-05-01T11:00:00Z", None, "2024-05-01T10:30:00Z"]).at("/next?page=2")
    state = mid.dump()
    assert state == {"version": 1, "since": "2024-05-01T10:00:00Z", "high": "2024-05-01T11:00:00Z",
                     "position": "/next?page=2"}
    again = Checkpoint.load(state, where="x")
    assert again == mid
    assert again.done().dump() == {"version": 1, "since": "2024-05-01T11:00:00Z"}


def test_a_page_of_iso_texts_raises_high_to_its_newest_instant_whatever_the_spelling():
    """A page is compared as text within one layout (length and offset) and only the newest value
    parsed; mixed spellings and offsets still give the newest instant, and anything not an ISO text
    with an offset (a datetime, a blank, a naive text) is parsed value by value as before."""
    base = datetime(2024, 5, 1, tzinfo=UTC)
    page = [(base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000+0000") for i in range(100)]
    assert Checkpoint().observe(page).high == base + timedelta(minutes=99)
    mixed = [*page, "2024-05-01T12:30:00-0200", "2024-05-01T14:00:00.5Z", "2024-05-01T15:00:00+05:00"]
    assert Checkpoint().observe(mixed).high == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)  # 12:30-02:00
    naive = [*page, "2024-05-02T00:00:00", None]
    assert Checkpoint().observe(naive).high == datetime(2024, 5, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date-time"):
        Checkpoint().observe([*page, "yesterday"])
    assert Checkpoint(since=base + timedelta(days=9)).observe(page).high == base + timedelta(days=9)
    with pytest.raises(ValueError, match="not a date-time"):  # one width and offset, but the newest is no time
        Checkpoint().observe([*page, "2024-05-01T99:00:00.000+0000"])
    zulu = [t.replace(".000+0000", "Z") for t in page]  # one layout spelled with Z
    assert Checkpoint().observe(list(reversed(zulu))).high == base + timedelta(minutes=99)


def test_earlier_shapes_still_load():
    cp = Checkpoint.load({"since": "2024-05-01T10:00:00Z", "high": "2024-05-01T11:00:00Z", "offset": 500,
                          "delta_link": "x"}, where="x")
    assert cp.position == 500 and cp.extra == {"delta_link": "x"}


def test_future_and_oversized_and_foreign_states_are_refused_with_what_to_do():
    with pytest.raises(FatalError, match="in the future") as exc:
        Checkpoint.load({"since": "2099-01-01T00:00:00Z"}, where="sap.A_Product")
    assert "pull --full" in exc.value.hint and "sap.A_Product" in exc.value.message
    with pytest.raises(FatalError, match="bytes"):
        Checkpoint.load({"position": "x" * 70_000}, where="x")
    with pytest.raises(FatalError, match="not one segbridge wrote"):
        Checkpoint.load({"since": "yesterday"}, where="x")


def test_page_guard_stops_a_repeated_position_and_a_repeated_page():
    guard = PageGuard("sf.Account")
    guard.see("/q/01g-2000")
    with pytest.raises(FatalError, match="same page position twice"):
        guard.see("/q/01g-2000")
    guard.page([{"Id": "1"}])
    with pytest.raises(FatalError, match="same page of 1 records"):
        guard.page([{"Id": "1"}])
