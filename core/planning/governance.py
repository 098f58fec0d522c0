"""Governance: overrides, hysteresis, rule-set hashes and audit diffs.

Why: planners must be able to pin an item (with a reason, a requester, an approver and an expiry),
classes must not flap at a boundary from run to run, and every change of a segment or a
parameter must be explainable after the fact (before, after, why).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import numpy as np
import pandas as pd

from core.planning.segmentation.abc import classes_from_share
from core.planning.segmentation.xyz import classify_xyz

KEY = ["entity", "entity_key"]


def ruleset_hash(policy) -> str:
    """sha256 of the policy's canonical JSON (sorted keys): the version stored with each run."""
    data = policy.model_dump(mode="json") if hasattr(policy, "model_dump") else policy
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def active_overrides(overrides: pd.DataFrame | None, today: date | None = None) -> pd.DataFrame:
    """Overrides that apply today: active, approved, not expired. The latest per target wins."""
    cols = ["entity", "entity_key", "name", "value", "reason", "requested_by", "approved_by", "expires_on"]
    if overrides is None or overrides.empty:
        return pd.DataFrame(columns=cols)
    today = pd.Timestamp(today or date.today())
    o = overrides.copy()
    active = o["active"].fillna(True).astype(bool) if "active" in o else pd.Series(True, index=o.index)
    approved = o["approved_by"].notna() & (o["approved_by"].astype(str).str.len() > 0)
    expires = pd.to_datetime(o["expires_on"]) if "expires_on" in o else pd.Series(pd.NaT, index=o.index)
    keep = active & approved & (expires.isna() | (expires >= today))
    o = o[keep]
    if "created_at" in o:
        o = o.sort_values("created_at")
    return o.drop_duplicates(["entity", "entity_key", "name"], keep="last")[cols].reset_index(drop=True)


def apply_parameter_overrides(params: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """Replace parameter values (long frame) pinned by an override; adds them when absent."""
    o = overrides[~overrides["name"].isin(["abc", "xyz", "pattern", "lifecycle", "segment"])]
    if o.empty:
        return params
    num = pd.to_numeric(o["value"], errors="coerce")
    pins = pd.DataFrame({"entity": o["entity"], "entity_key": o["entity_key"], "name": o["name"],
                         "value_num": num, "value_text": np.where(num.isna(), o["value"], None)})
    merged = params.merge(pins[KEY + ["name"]], on=KEY + ["name"], how="left", indicator=True)
    kept = params[(merged["_merge"] == "left_only").to_numpy()]
    return pd.concat([kept, pins], ignore_index=True)


def _interval(labels, thresholds, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi] of each class value; NaN for values outside `labels`."""
    edges = np.r_[-np.inf, np.asarray(thresholds, float), np.inf]
    pos = pd.Series(values).map({lab: i for i, lab in enumerate(labels)}).to_numpy(dtype="float64")
    ok = np.isfinite(pos)
    p = np.where(ok, pos, 0).astype(int)
    return np.where(ok, edges[p], np.nan), np.where(ok, edges[p + 1], np.nan)


def _raw_class(dim: str, metric: np.ndarray, thresholds) -> np.ndarray:
    return classes_from_share(metric, thresholds) if dim == "abc" else classify_xyz(metric, thresholds)


def apply_hysteresis(new: pd.DataFrame, history: list[pd.DataFrame], thresholds: dict[str, tuple],
                     margin: dict[str, float], persist_runs: int = 2) -> pd.DataFrame:
    """Keep the previous class unless the metric clears the old class's boundary by `margin` or the
    new class has held for `persist_runs` runs (this one included). `new` and each history frame
    are long (entity, entity_key, dimension, value, metric), history most recent first."""
    out = new.copy()
    if "source" not in out:
        out["source"] = "rule"
    if not history:
        return out
    labels = {"abc": ("A", "B", "C"), "xyz": ("X", "Y", "Z")}
    for dim in [d for d in ("abc", "xyz") if d in thresholds]:
        rows = (out["dimension"] == dim).to_numpy()
        cur = out.loc[rows, KEY + ["value", "metric"]]
        prev = _prev(history[0], dim, cur)
        hold = _hold_mask(dim, cur, prev, history, labels[dim], thresholds[dim], margin.get(dim, 0.0),
                          persist_runs)
        idx = cur.index[hold]
        out.loc[idx, "value"] = prev.loc[hold, "value"].to_numpy()
        out.loc[idx, "source"] = "hysteresis"
    return out


def _prev(frame: pd.DataFrame, dim: str, cur: pd.DataFrame) -> pd.DataFrame:
    p = frame.loc[frame["dimension"] == dim, KEY + ["value", "metric"]]
    return cur[KEY].merge(p, on=KEY, how="left").set_index(cur.index)


def _hold_mask(dim, cur, prev, history, labels, thresholds, margin, persist_runs) -> np.ndarray:
    pv = prev["value"].to_numpy(dtype=object)
    nv = cur["value"].to_numpy(dtype=object)
    changed = pd.notna(pv) & (pv != nv) & np.isin(pv, labels) & np.isin(nv, labels)
    lo, hi = _interval(labels, thresholds, pv)
    m = cur["metric"].to_numpy(dtype="float64")
    distance = np.fmax(lo - m, m - hi)
    clears = distance >= margin - 1e-12
    persisted = np.ones(len(cur), dtype=bool) if len(history) >= persist_runs - 1 else np.zeros(len(cur), bool)
    for h in history[: persist_runs - 1]:
        hp = _prev(h, dim, cur)
        persisted &= _raw_class(dim, hp["metric"].to_numpy(dtype="float64"), thresholds) == nv
    return changed & ~clears & ~persisted


def audit_events(before: pd.DataFrame, after: pd.DataFrame, on: list[str], value_cols: list[str],
                 action: str, run_id: int | None, reason: pd.Series | str = "") -> pd.DataFrame:
    """One audit row per changed (or new) value: before/after as JSON text, with the reason."""
    b = before[on + value_cols] if before is not None and not before.empty else pd.DataFrame(columns=on + value_cols)
    m = after[on + value_cols].merge(b, on=on, how="left", suffixes=("", "_before"), indicator=True)
    diff = np.zeros(len(m), dtype=bool)
    for c in value_cols:
        a, p = m[c], m[f"{c}_before"]
        if pd.api.types.is_numeric_dtype(a):
            an, pn = a.to_numpy("float64"), pd.to_numeric(p, errors="coerce").to_numpy("float64")
            same = np.isclose(an, pn, rtol=1e-9, atol=1e-9) | (np.isnan(an) & np.isnan(pn))
        else:
            same = (a.astype(object).fillna("\0").to_numpy() == p.astype(object).fillna("\0").to_numpy())
        diff |= ~same
    ch = m[diff]
    label = ch[on[-1]].astype(str)
    ev = pd.DataFrame({
        "action": action, "entity": ch["entity"].to_numpy(), "entity_key": ch["entity_key"].to_numpy(),
        "before": np.where(ch["_merge"] == "both", '{"' + label + '": ' + _json_val(ch, value_cols, "_before")
                           + "}", None),
        "after": ('{"' + label + '": ' + _json_val(ch, value_cols, "") + "}").to_numpy(),
        "run_id": run_id})
    ev["reason"] = reason.reindex(ch.index).to_numpy() if isinstance(reason, pd.Series) else reason
    return ev.reset_index(drop=True)


def _json_val(frame: pd.DataFrame, cols: list[str], suffix: str) -> pd.Series:
    """The first non-null of `cols` per row, JSON-encoded (numbers bare, text quoted)."""
    out = pd.Series("null", index=frame.index, dtype=object)
    for c in reversed(cols):
        v = frame[f"{c}{suffix}"]
        num = pd.to_numeric(v, errors="coerce")
        txt = np.where(num.notna(), num.map(lambda x: f"{x:.6g}"), '"' + v.astype(str) + '"')
        out = pd.Series(np.where(v.notna(), txt, out), index=frame.index)
    return out
