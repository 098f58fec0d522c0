"""Parity: the same canonical frames through the pandas engine and through local Spark give the same
segments and parameters - exact for classes, texts and whole numbers, 1e-9 relative for floats.

The fixture (tests/e2e/spark_fixtures.py) holds ties at an ABC boundary (two products of equal value,
ranked by product id), zero series (master data without demand), intermittent and lumpy series,
returns, rejected lines, a series with demand but no value, overrides of a class and of a parameter,
and a previous run, so hysteresis holds classes back; the customer fixture holds a tie at a customer ABC
boundary, customers without cost or revenue, a customer whose only line is rejected, shipments with
surcharged modes and customer overrides; the messy fixture holds the lines core.planning.cleaning sets
aside, so the run's data-quality counts, unmatched combinations and service summary are compared too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.engine import EngineOptions, result_summary, run_engine
from core.planning.policy import Policy, load_policy
from tests.e2e.spark_fixtures import (
    customer_frames,
    customer_overrides,
    messy_frames,
    overrides_frame,
    parity_frames,
)

pytestmark = [pytest.mark.spark, pytest.mark.e2e]


def _exact_join(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], texts: list[str], nums: list[str]) -> list[str]:
    """Differences between two long frames joined on `keys` (every row on both sides, texts equal,
    numbers within 1e-9 relative, NaN only against NaN)."""
    m = a.merge(b, on=keys, how="outer", suffixes=("_pandas", "_spark"), indicator=True)
    out = [f"only in {side}: {len(m[m['_merge'] == side])} rows" for side in ("left_only", "right_only")
           if (m["_merge"] == side).any()]
    for c in texts:
        x, y = m[f"{c}_pandas"].astype(object), m[f"{c}_spark"].astype(object)
        bad = ~((x.isna() & y.isna()) | (x.astype(str) == y.astype(str)))
        out += [f"{c} differs at {r[keys].tolist()}: {r[f'{c}_pandas']!r} vs {r[f'{c}_spark']!r}"
                for _, r in m[bad].head(5).iterrows()]
    for c in nums:
        x, y = m[f"{c}_pandas"].astype(float).to_numpy(), m[f"{c}_spark"].astype(float).to_numpy()
        bad = ~np.isclose(x, y, rtol=1e-9, atol=0.0, equal_nan=True)
        out += [f"{c} differs at {r[keys].tolist()}: {r[f'{c}_pandas']!r} vs {r[f'{c}_spark']!r}"
                for _, r in m[bad].head(5).iterrows()]
    return out


def _previous_run(frames) -> pd.DataFrame:
    """A previous run whose classes differ for some series, so hysteresis has something to hold."""
    prev = run_engine(frames, None, EngineOptions(simulate=False)).segments
    flip = prev["dimension"] == "abc"  # every class moved one step: those near a boundary are held
    prev.loc[flip, "value"] = prev.loc[flip, "value"].map({"A": "B", "B": "A", "C": "B"}).fillna("none")
    prev.loc[flip, "metric"] = prev.loc[flip, "value"].map({"A": 0.5, "B": 0.9}).astype(float)
    return prev


def _both(spark, frames, policy, opts):
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import from_frames

    ref = run_engine(frames, policy, opts)
    run = run_spark(spark, from_frames(spark, frames), policy, opts, buckets=2)
    return ref.segments, ref.parameters, run.segments.toPandas(), run.parameters.toPandas()


def _results(spark, frames, policy, opts):
    """(pandas EngineResult, Spark run collected as one)."""
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import collect_result, from_frames

    return run_engine(frames, policy, opts), collect_result(run_spark(spark, from_frames(spark, frames), policy,
                                                                      opts, buckets=2))


def test_segments_and_parameters_match_the_pandas_engine(spark):
    frames = parity_frames()
    pol = load_policy()  # a wide margin, so the previous run's classes are held for many series
    pol = pol.model_copy(update={"governance": pol.governance.model_copy(
        update={"hysteresis_margin": {"abc": 0.3, "xyz": 0.5}})})
    opts = EngineOptions(overrides=overrides_frame(), history=[_previous_run(frames)])
    seg_p, par_p, seg_s, par_s = _both(spark, frames, pol, opts)
    assert len(seg_p) > 500 and len(par_p) > 1500
    assert _exact_join(seg_p, seg_s, ["entity", "entity_key", "dimension"], ["value", "source"], ["metric"]) == []
    assert _exact_join(par_p, par_s, ["entity", "entity_key", "name"], ["value_text"], ["value_num"]) == []
    # the cases are there: a tie ranked by product id, a held class, an override, zero and sparse series
    abc = seg_s[(seg_s["entity"] == "product_location") & (seg_s["dimension"] == "abc")].set_index("entity_key")
    assert abc.loc["T000|L0", "metric"] < abc.loc["T001|L0", "metric"]
    assert (abc["source"] == "hysteresis").any() and abc.loc["P003|L1", "source"] == "override"
    assert (abc["value"] == "none").any()
    pattern = seg_s[seg_s["dimension"] == "pattern"]["value"]
    assert {"intermittent", "lumpy"} & set(pattern)
    pinned = par_s[(par_s["entity_key"] == "P004|L2") & (par_s["name"] == "safety_stock")]["value_num"]
    assert pinned.tolist() == [42.0]


def test_network_scope_and_volume_measure_match(spark):
    frames = parity_frames(seed=11, n_products=12)
    pol = load_policy()
    pol = pol.model_copy(update={"classification": pol.classification.model_copy(
        update={"abc_scope": "network", "abc_measure": "volume"})})
    seg_p, par_p, seg_s, par_s = _both(spark, frames, pol, EngineOptions(simulate=False))
    assert _exact_join(seg_p, seg_s, ["entity", "entity_key", "dimension"], ["value", "source"], ["metric"]) == []
    assert _exact_join(par_p, par_s, ["entity", "entity_key", "name"], ["value_text"], ["value_num"]) == []


def test_customers_match_the_pandas_engine(spark):
    frames = customer_frames()
    opts = EngineOptions(overrides=customer_overrides(), simulate=False)
    ref, res = _results(spark, frames, load_policy(), opts)
    cust = lambda f: f[f["entity"] == "customer"]  # noqa: E731
    seg_p, seg_s, par_p, par_s = cust(ref.segments), cust(res.segments), cust(ref.parameters), cust(res.parameters)
    assert len(seg_p) > 20 and len(par_p) > 100
    assert _exact_join(seg_p, seg_s, ["entity", "entity_key", "dimension"], ["value", "source"], ["metric"]) == []
    assert _exact_join(par_p, par_s, ["entity", "entity_key", "name"], ["value_text"], ["value_num"]) == []
    abc = seg_s[seg_s["dimension"] == "abc"].set_index("entity_key")
    assert abc.loc["K0", "metric"] < abc.loc["K1", "metric"]  # equal revenue: ranked by customer id
    assert abc.loc["ZERO", "value"] == "none" and abc.loc["NOCOST", "value"] != "none"
    assert "REJ" not in abc.index and abc.loc["C03", "value"] == "A"  # rejected only: no row; an override
    assert set(seg_s["value"]) >= {"strategic", "unprofitable"}
    pinned = par_s[(par_s["entity_key"] == "C04") & (par_s["name"] == "delivery_priority")]["value_text"]
    assert pinned.tolist() == ["LOW"]
    assert result_summary(res)["customers"] == result_summary(ref)["customers"] == len(abc)


def _kmeans_policy():
    """The shipped policy with k-means customer segments on, and a customer rule on one k-means label,
    so the segments also move the customer parameters."""
    d = load_policy().model_dump()
    d["customers"]["kmeans"]["enabled"] = True
    d["customer_rules"] = [{"name": "top-cluster", "match": {"customer_segment": "platinum"},
                            "service_level_class": "PLATINUM", "delivery_priority": "HIGH"}]
    return Policy.model_validate(d)


def test_kmeans_customer_segments_match_the_pandas_engine(spark):
    """K-means sees every customer at once: Spark (2 customer buckets) gives the pandas engine's clusters,
    not clusters of each bucket's customers, nor the rule segments (k-means skipped)."""
    frames = customer_frames()
    pol = _kmeans_policy()
    opts = EngineOptions(overrides=customer_overrides(), simulate=False)
    ref, res = _results(spark, frames, pol, opts)
    cust = lambda f: f[f["entity"] == "customer"]  # noqa: E731
    seg_p, seg_s, par_p, par_s = cust(ref.segments), cust(res.segments), cust(ref.parameters), cust(res.parameters)
    assert _exact_join(seg_p, seg_s, ["entity", "entity_key", "dimension"], ["value", "source"], ["metric"]) == []
    assert _exact_join(par_p, par_s, ["entity", "entity_key", "name"], ["value_text"], ["value_num"]) == []
    segment = seg_s[seg_s["dimension"] == "segment"].set_index("entity_key")["value"]
    labels = set(pol.customers.kmeans.labels)
    assert len(set(segment) & labels) > 1 and set(segment) <= labels | {"none"}  # k-means ran: clusters
    rules = run_engine(frames, load_policy(), opts).segments
    by_rule = rules[(rules["entity"] == "customer") & (rules["dimension"] == "segment")].set_index("entity_key")
    assert (by_rule["value"].loc[segment.index] != segment).any()
    prio = par_s[par_s["name"] == "delivery_priority"].set_index("entity_key")["value_text"]
    assert (prio.loc[segment.index[segment == "platinum"]] == "HIGH").all()


def test_run_summaries_match_on_messy_lines(spark):
    frames = messy_frames()
    pol = load_policy()
    pol = pol.model_copy(update={"rules": pol.rules[:2]})  # most series match no rule: unmatched combinations
    ref, res = _results(spark, frames, pol, EngineOptions())
    assert result_summary(res) == result_summary(ref)
    dq = {c: d["count"] for c, d in ref.data_quality.items()}
    assert dq["bad_quantity"] == 2 and dq["duplicate_lines"] == 3 and dq["return_lines"] == 2
    assert dq["master_rows_set_aside"] == 1 and dq["negative_lead_time"] == 1
    assert res.data_quality == ref.data_quality and res.warnings == ref.warnings  # examples name file and line
    assert any("order_lines.csv line" in w for w in res.warnings)
    assert len(ref.unmatched) > 0
    key = list(ref.unmatched.columns)
    pd.testing.assert_frame_equal(res.unmatched.sort_values(key, ignore_index=True),
                                  ref.unmatched.astype({"count": "int64"}).sort_values(key, ignore_index=True))
    assert ref.service is not None
    pd.testing.assert_frame_equal(res.service, ref.service, check_dtype=False, rtol=1e-9)


def test_closed_form_and_empirical_safety_stock_match(spark):
    """No calibrated series (the chunk ranking is skipped) and the B classes on `empirical` (only their
    rows carry the period series to the parameters stage): still the pandas engine's numbers."""
    frames = parity_frames(seed=5, n_products=12)
    pol = load_policy()
    rules = [r.model_copy(update={"ss_method": "empirical" if r.name.startswith("B-") else r.ss_method})
             for r in pol.rules]
    pol = pol.model_copy(update={"default": pol.default.model_copy(update={"ss_method": "normal"}), "rules": rules})
    seg_p, par_p, seg_s, par_s = _both(spark, frames, pol, EngineOptions(simulate=False))
    assert _exact_join(seg_p, seg_s, ["entity", "entity_key", "dimension"], ["value", "source"], ["metric"]) == []
    assert _exact_join(par_p, par_s, ["entity", "entity_key", "name"], ["value_text"], ["value_num"]) == []
    used = par_s[par_s["name"] == "ss_method"]["value_text"]
    assert "empirical" in set(used) and "calibrated" not in set(used)
