"""Messy input: each case of core.planning.cleaning is set aside or fixed, counted and named; and
run_engine applies it (counts in data_quality, warnings, result_summary; ABC by volume without prices)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from basics.errors import DataError
from core.planning.cleaning import CASES, DataQuality, clean_frames, clean_order_lines
from core.planning.engine import EngineOptions, result_summary, run_engine
from core.planning.policy import Policy

pytestmark = pytest.mark.unit


def _lines(n=6, **cols) -> pd.DataFrame:
    base = {"order_id": [f"O{i}" for i in range(n)], "line_no": "1", "product_id": "P1", "location_id": "DC",
            "order_date": pd.Timestamp("2024-03-04"), "quantity": 5.0}
    return pd.DataFrame({**base, **cols})


def _from_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """As the analyze reader hands it over: line numbers in `_row`, the file name in attrs."""
    frame = frame.copy()
    frame.insert(0, "_row", np.arange(len(frame)) + 2)
    frame.attrs["file"] = "order_lines.csv"
    return frame


def test_bad_quantity_blank_product_and_date_are_set_aside_with_their_line():
    ol = _from_csv(_lines(quantity=[5.0, np.nan, np.inf, 5.0, 5.0, 5.0],
                          product_id=["P1", "P1", "P1", "  ", None, "P1"],
                          order_date=[pd.Timestamp("2024-03-04")] * 5 + [pd.NaT]))
    out, dq = clean_order_lines(ol)
    assert out["order_id"].tolist() == ["O0"]
    assert "_row" not in out
    assert dq.counts["bad_quantity"] == 2 and dq.examples["bad_quantity"] == ["order_lines.csv line 3",
                                                                              "order_lines.csv line 4"]
    assert dq.counts["blank_product_id"] == 2 and dq.examples["blank_product_id"][0] == "order_lines.csv line 5"
    assert dq.counts["blank_order_date"] == 1 and dq.examples["blank_order_date"] == ["order_lines.csv line 7"]


def test_text_quantity_is_read_as_not_a_number():
    out, dq = clean_order_lines(_lines(3, quantity=["5", "abc", "2.5"]))
    assert out["quantity"].tolist() == [5.0, 2.5]
    assert dq.counts["bad_quantity"] == 1 and dq.examples["bad_quantity"] == ["order O1 line 1"]


def test_a_file_without_one_usable_line_is_an_error_naming_file_and_line():
    with pytest.raises(DataError) as exc:
        clean_order_lines(_from_csv(_lines(3, quantity=[np.nan, np.nan, np.nan])))
    assert "order_lines.csv: no usable order line among 3" in str(exc.value)
    assert "order_lines.csv line 2" in str(exc.value)


def test_missing_columns_name_the_file():
    ol = _from_csv(_lines(2)).drop(columns=["quantity"])
    with pytest.raises(DataError, match="order_lines.csv: no column.s. quantity"):
        clean_order_lines(ol)


def test_exact_duplicates_are_dropped_and_same_key_different_values_set_aside():
    ol = _from_csv(pd.concat([_lines(4), _lines(4).iloc[[0, 1]],
                              _lines(4).iloc[[2]].assign(quantity=9.0)], ignore_index=True))
    out, dq = clean_order_lines(ol)
    assert out["order_id"].tolist() == ["O0", "O1", "O3"]
    assert dq.counts["duplicate_lines"] == 2 and dq.examples["duplicate_lines"] == ["order_lines.csv line 6",
                                                                                  "order_lines.csv line 7"]
    assert dq.counts["conflicting_lines"] == 2
    assert dq.examples["conflicting_lines"] == ["order_lines.csv line 4", "order_lines.csv line 8"]


def test_without_order_keys_a_duplicate_is_a_line_equal_in_every_column():
    ol = _lines(3, quantity=[1.0, 2.0, 3.0]).drop(columns=["order_id", "line_no"])
    ol = pd.concat([ol, ol.iloc[[0]], ol.iloc[[1]].assign(quantity=7.0)], ignore_index=True)
    out, dq = clean_order_lines(_from_csv(ol))
    assert out["quantity"].tolist() == [1.0, 2.0, 3.0, 7.0]
    assert dq.counts["duplicate_lines"] == 1 and dq.counts["conflicting_lines"] == 0


def test_frames_from_the_store_skip_the_duplicate_check():
    ol = pd.concat([_lines(2), _lines(2)], ignore_index=True)
    ol.attrs["keys_unique"] = True
    out, dq = clean_order_lines(ol)
    assert len(out) == 4 and dq.counts["duplicate_lines"] == 0


@pytest.mark.parametrize("returns, kept", [("exclude", [5.0, 5.0]), ("net", [5.0, -2.0, 5.0, -1.5])])
def test_returns_are_counted_and_kept_out_of_demand_unless_netted(returns, kept):
    out, dq = clean_order_lines(_lines(4, quantity=[5.0, -2.0, 5.0, -1.5]), returns)
    assert out["quantity"].tolist() == kept
    assert dq.counts["return_lines"] == 2 and dq.counts["returned_quantity"] == 3.5
    assert dq.examples["return_lines"] == ["order O1 line 1", "order O3 line 1"]
    assert ("netted against demand" in dq.warnings()[0]) == (returns == "net")


def test_unknown_returns_policy_is_refused():
    with pytest.raises(ValueError, match="exclude, net"):
        clean_order_lines(_lines(2), "keep")
    with pytest.raises(ValidationError):
        Policy.model_validate({"classification": {"returns": "keep"}})
    assert Policy().classification.returns == "exclude"


def test_negative_lead_time_is_treated_as_missing_and_named():
    pls = pd.DataFrame({"product_id": ["P1", "P2"], "location_id": ["DC", None], "lead_time_days": [-3.0, 7.0],
                        "lead_time_std_days": [1.0, -1.0]})
    receipts = pd.DataFrame({"po_id": ["A", "B"], "line_no": "1", "product_id": "P1", "location_id": "DC",
                             "order_date": pd.to_datetime(["2024-01-10", "2024-01-10"]),
                             "receipt_date": pd.to_datetime(["2024-01-05", "2024-01-20"])})
    out, dq = clean_frames({"order_lines": _lines(2), "product_locations": pls, "receipts": receipts})
    assert out["product_locations"]["lead_time_days"].isna().tolist() == [True, False]
    assert out["product_locations"]["lead_time_std_days"].isna().tolist() == [False, True]
    assert out["receipts"]["po_id"].tolist() == ["B"]
    assert dq.counts["negative_lead_time"] == 3
    assert dq.examples["negative_lead_time"] == ["P1 at DC (product_locations)", "P2 at - (product_locations)",
                                                 "P1 at DC (receipts)"]


def test_master_rows_with_blank_or_repeated_keys_are_set_aside_first_kept():
    products = pd.DataFrame({"id": ["P1", "P1", None, "P2"], "unit_price": [1.0, 2.0, 3.0, 4.0]})
    pls = pd.DataFrame({"product_id": ["P1", "P1", ""], "location_id": ["DC", "DC", "DC"]})
    out, dq = clean_frames({"order_lines": _lines(2), "products": products, "product_locations": pls})
    assert out["products"]["unit_price"].tolist() == [1.0, 4.0]
    assert len(out["product_locations"]) == 1
    assert dq.counts["master_rows_set_aside"] == 4
    assert dq.examples["master_rows_set_aside"] == ["product P1", "product (blank)", "product-location P1 at DC",
                                                    "product-location (blank) at DC"]


def test_counts_are_whole_numbers_and_every_case_is_present():
    dq = DataQuality()
    dq.add("returned_quantity", 2.6)
    assert set(dq.summary()) == set(CASES) and dq.summary()["returned_quantity"] == 3
    assert dq.warnings() == []  # nothing happened: no warning (returned quantity rides on return_lines)


# ---- through run_engine: both analyze and segment call it -------------------------------------------


def _world(prices: bool = True) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    days = pd.date_range("2024-01-01", periods=26 * 7, freq="D")
    rows = [(f"{p}-{i}", "1", p, "DC", d, float(rng.poisson(size) + 1))
            for p, size in (("P1", 40), ("P2", 20), ("P3", 5)) for i, d in enumerate(days[::3])]
    ol = pd.DataFrame(rows, columns=["order_id", "line_no", "product_id", "location_id", "order_date", "quantity"])
    products = pd.DataFrame({"id": ["P1", "P2", "P3"], "unit_price": [1.0, 30.0, 100.0] if prices else np.nan,
                             "unit_cost": np.nan})
    pls = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "location_id": "DC", "lead_time_days": 14.0})
    return {"order_lines": ol, "products": products, "product_locations": pls}


def test_engine_reports_data_quality_in_result_warnings_and_summary():
    f = _world()
    ol = f["order_lines"]
    f["order_lines"] = pd.concat([ol, ol.iloc[[0, 1]], ol.iloc[[2]].assign(quantity=-4.0, line_no="2"),
                                  ol.iloc[[3]].assign(quantity=np.nan, line_no="3")], ignore_index=True)
    f["product_locations"].loc[0, "lead_time_days"] = -5.0
    res = run_engine(f, None, EngineOptions(simulate=False))
    dq = {case: d["count"] for case, d in res.data_quality.items()}
    assert dq["duplicate_lines"] == 2 and dq["return_lines"] == 1 and dq["returned_quantity"] == 4.0
    assert dq["bad_quantity"] == 1 and dq["negative_lead_time"] == 1
    clean = run_engine(_world(), None, EngineOptions(simulate=False))
    assert res.product_locations["mean"].tolist() == clean.product_locations["mean"].tolist()
    assert any("P1 at DC" in w and "negative lead time" in w for w in res.warnings)
    assert (res.product_locations["reorder_point"] >= 0).all()
    summary = result_summary(res)["data_quality"]
    assert summary["duplicate_lines"] == 2 and all(isinstance(v, int) for v in summary.values())


def test_no_price_and_no_cost_ranks_by_volume_with_a_warning():
    res = run_engine(_world(prices=False), None, EngineOptions(simulate=False))
    pl = res.product_locations.set_index("product_id")
    assert pl["abc"].tolist() == ["A", "B", "C"]  # by volume: P1 sells most units
    assert (pl["safety_stock"] > 0).all()
    assert res.data_quality["abc_by_volume"]["count"] == 3
    assert any("ranked for ABC by volume" in w for w in res.warnings)
    by_volume = Policy.model_validate({"classification": {"abc_measure": "volume"}})
    assert run_engine(_world(prices=False), by_volume,
                      EngineOptions(simulate=False)).product_locations["abc"].tolist() == pl["abc"].tolist()


def test_a_product_without_price_among_priced_ones_is_ranked_last_not_dropped():
    f = _world()
    f["products"].loc[f["products"]["id"] == "P3", "unit_price"] = np.nan
    res = run_engine(f, None, EngineOptions(simulate=False))
    pl = res.product_locations.set_index("product_id")
    assert pl.loc["P3", "abc"] == "C" and pl.loc["P3", "abc_metric"] == 1.0
    assert pl.loc["P3", "safety_stock"] > 0
    assert res.data_quality["abc_no_measure"]["count"] == 1
    assert res.data_quality["abc_no_measure"]["examples"] == ["P3 at DC"]
    assert res.data_quality["abc_by_volume"]["count"] == 0
