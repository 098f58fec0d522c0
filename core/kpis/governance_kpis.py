"""Governance: is what was decided held by the systems, and how clean is the data?

* policy adherence: the share of product-locations whose values in a system all equal the intended
  ones, i.e. none of their intended fields has an open (or acknowledged) value_mismatch or orphan
  exception in that system (reconciliation files those); per segment and system. Grouped by integer
  codes (system x product-location row), so millions of intended values cost no string groupby.
* quarantine rate per system/entity and period: quarantined / read over the pulls of the period.
* exceptions per system: opened in each period (first seen), resolved and waived (status now),
  and the median age in days of those still open or acknowledged.
* write-back success rate per system and period: applied / changes that reached a final state
  (applied, rejected, failed, conflict).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import ALL, empty_rows, frame_of, one_row, period_index, period_label

OPEN_STATES = ("open", "acknowledged")
MISMATCH_KINDS = ("value_mismatch", "orphan")
FINAL_STATES = ("applied", "rejected", "failed", "conflict")


def adherence_kpis(intended: pd.DataFrame, exceptions: pd.DataFrame, pl_segment) -> pd.DataFrame:
    """`policy_adherence` per (segment, system). `intended`: system, entity, target_key, field and `pl`
    (row number of the product-location); `exceptions`: the recon_exception rows; `pl_segment`: the
    segment of each product-location by row number."""
    if intended.empty:
        return empty_rows()
    seg_codes, seg_names = pd.factorize(pd.Series(np.asarray(pl_segment, dtype=object)).astype(str), sort=True)
    n_pl = len(seg_codes)
    sys_codes, systems = pd.factorize(intended["system"], sort=True)
    pl = intended["pl"].to_numpy().astype(np.int64)
    known = pl >= 0
    present = np.bincount((sys_codes * n_pl + pl)[known], minlength=len(systems) * n_pl).reshape(len(systems), n_pl) > 0
    off = np.zeros_like(present)
    hit = _off_rows(intended, exceptions)
    off.ravel()[(sys_codes * n_pl + pl)[hit & known]] = True
    rows = []
    for i, system in enumerate(systems):
        held = present[i] & ~off[i]
        total = np.bincount(seg_codes, weights=present[i], minlength=len(seg_names))
        good = np.bincount(seg_codes, weights=held, minlength=len(seg_names))
        for name, g, t in [*zip(seg_names, good, total, strict=True), (ALL, good.sum(), total.sum())]:
            if t > 0:
                rows.append(one_row(str(name), "policy_adherence", g / t, scope=str(system), numerator=float(g),
                                    denominator=float(t)))
    return frame_of(rows)


def _off_rows(intended: pd.DataFrame, exceptions: pd.DataFrame) -> np.ndarray:
    """Intended rows with an open value_mismatch on their field, or an open orphan on their record."""
    ex = exceptions[exceptions["status"].isin(OPEN_STATES) & exceptions["kind"].isin(MISMATCH_KINDS)]
    hit = np.zeros(len(intended), dtype=bool)
    if ex.empty:
        return hit
    near = np.flatnonzero(intended["target_key"].isin(ex["entity_key"].unique()).to_numpy())
    if not len(near):
        return hit
    sub = intended.iloc[near][["system", "entity", "target_key", "field"]].assign(row=near)
    ex = ex.rename(columns={"entity_key": "target_key"})[["system", "entity", "target_key", "field"]].drop_duplicates()
    by_field = sub.merge(ex[ex["field"] != "*"], on=["system", "entity", "target_key", "field"])["row"]
    rec = ["system", "entity", "target_key"]
    by_record = sub.merge(ex[ex["field"] == "*"][rec].drop_duplicates(), on=rec)["row"]
    hit[np.concatenate([by_field.to_numpy(), by_record.to_numpy()]).astype(np.int64)] = True
    return hit


def quarantine_kpis(counts: pd.DataFrame, period: str = "week") -> pd.DataFrame:
    """`quarantine_rate` per system/entity and period from entity counts of pull runs
    (`system`, `entity`, `read`, `quarantined`, `started_at`)."""
    if counts.empty:
        return empty_rows()
    c = counts.assign(scope=counts["system"].astype(str) + "/" + counts["entity"].astype(str),
                      period=period_label(period_index(pd.to_datetime(counts["started_at"], utc=True)
                                                       .dt.tz_localize(None).to_numpy(), period), period))
    g = pd.concat([c, c.assign(period=ALL)]).groupby(["scope", "period"], sort=True)[["quarantined", "read"]].sum()
    return frame_of([one_row(ALL, "quarantine_rate", r["quarantined"] / r["read"], scope=s, period=p,
                             numerator=float(r["quarantined"]), denominator=float(r["read"]))
                     for (s, p), r in g.iterrows() if r["read"] > 0])


def exception_kpis(exceptions: pd.DataFrame, now: datetime, period: str = "week") -> pd.DataFrame:
    """exceptions_opened per period (first seen), exceptions_resolved / _waived / _open now and
    exception_median_age_days of the open ones, per system and for all."""
    if exceptions.empty:
        return empty_rows()
    ex = exceptions.assign(system=exceptions["system"].fillna("-").astype(str),
                           first_seen=pd.to_datetime(exceptions["first_seen"], utc=True))
    rows = []
    for system, g in [*ex.groupby("system", sort=True), (ALL, ex)]:
        opened = pd.Series(period_label(period_index(g["first_seen"].dt.tz_localize(None).to_numpy(), period),
                                        period)).value_counts().sort_index()
        rows += [one_row(ALL, "exceptions_opened", float(n), scope=system, period=p) for p, n in opened.items()]
        rows.append(one_row(ALL, "exceptions_opened", float(len(g)), scope=system))
        for kpi, states in (("exceptions_open", OPEN_STATES), ("exceptions_resolved", ("resolved",)),
                            ("exceptions_waived", ("waived",))):
            rows.append(one_row(ALL, kpi, float(g["status"].isin(states).sum()), scope=system))
        live = g[g["status"].isin(OPEN_STATES)]
        age = (pd.Timestamp(now).tz_convert("UTC") - live["first_seen"]).dt.total_seconds() / 86400.0
        rows.append(one_row(ALL, "exception_median_age_days", float(age.median()) if len(age) else np.nan,
                            scope=system, note=None if len(age) else "no open exceptions"))
    return frame_of(rows)


def writeback_kpis(changes: pd.DataFrame, period: str = "week") -> pd.DataFrame:
    """`writeback_success_rate` per system and period of the change's last update."""
    final = changes[changes["state"].isin(FINAL_STATES)] if len(changes) else changes
    if final.empty:
        return empty_rows()
    f = final.assign(ok=(final["state"] == "applied").astype(float), n=1.0,
                     period=period_label(period_index(pd.to_datetime(final["updated_at"], utc=True)
                                                      .dt.tz_localize(None).to_numpy(), period), period))
    f = pd.concat([f, f.assign(system=ALL)])
    g = pd.concat([f, f.assign(period=ALL)]).groupby(["system", "period"], sort=True)[["ok", "n"]].sum()
    return frame_of([one_row(ALL, "writeback_success_rate", r["ok"] / r["n"], scope=str(s), period=p,
                             numerator=r["ok"], denominator=r["n"]) for (s, p), r in g.iterrows()])
