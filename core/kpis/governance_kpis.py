"""Governance: is what was decided held by the systems, and how clean is the data?

* policy adherence: the share of product-locations whose values in a system all equal the intended
  ones, i.e. none of their intended fields has an open (or acknowledged) value_mismatch or orphan
  exception in that system (reconciliation files those); per segment and system.
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


def adherence_kpis(intended: pd.DataFrame, exceptions: pd.DataFrame, pl_segment: pd.Series) -> pd.DataFrame:
    """`policy_adherence` per (segment, system): `intended` has system, entity, target_key, field and
    `pl_key` (the product-location's `product|location`); `exceptions` the recon_exception rows;
    `pl_segment` maps pl_key to its segment."""
    if intended.empty:
        return empty_rows()
    ex = exceptions[exceptions["status"].isin(OPEN_STATES) & exceptions["kind"].isin(MISMATCH_KINDS)]
    ex = ex.rename(columns={"entity_key": "target_key"})[["system", "entity", "target_key", "field"]]
    rec = ["system", "entity", "target_key"]
    by_field = ex[ex["field"] != "*"].drop_duplicates().assign(off_field=True)
    by_record = ex[ex["field"] == "*"][rec].drop_duplicates().assign(off_record=True)
    m = intended[[*rec, "field", "pl_key"]].merge(by_field, on=[*rec, "field"], how="left")
    m = m.merge(by_record, on=rec, how="left")
    m["off"] = m["off_field"].notna().to_numpy() | m["off_record"].notna().to_numpy()
    per_pl = m.groupby(["system", "pl_key"], sort=True)["off"].any().reset_index()
    per_pl["segment"] = per_pl["pl_key"].map(pl_segment).fillna("unsegmented").astype(str)
    rows = []
    for keys, g in [*per_pl.groupby(["segment", "system"]), *((
            (ALL, s), g) for s, g in per_pl.groupby("system"))]:
        held = float((~g["off"]).sum())
        rows.append(one_row(str(keys[0]), "policy_adherence", held / len(g), scope=str(keys[1]),
                            numerator=held, denominator=float(len(g))))
    return frame_of(rows)


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
