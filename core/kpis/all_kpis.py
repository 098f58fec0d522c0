"""Every KPI of a segment run from frames: `prepare` joins the canonical tables onto the run's
product-locations, `compute_all` runs each KPI family and stacks their rows.

Kept free of the store (the adapter is core.kpis.kpi_store) so the same functions run on frames
from anywhere, e.g. the benchmark's generated million product-locations.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.kpis.customer_kpis import customer_kpis
from core.kpis.governance_kpis import adherence_kpis, exception_kpis, quarantine_kpis, writeback_kpis
from core.kpis.inventory_kpis import inventory_kpis
from core.kpis.kpi_rows import KPI_COLUMNS, labels
from core.kpis.service_kpis import promised_vs_achieved, service_kpis, shipped_per_line
from core.kpis.stability import migration_kpis

UNSEGMENTED = "unsegmented"


@dataclass
class KpiInputs:
    """What the KPIs are computed from; `pls` rows are numbered 0..n-1 and `lines`/`snapshots` point at
    them with `pl` (-1: a product-location the run did not segment)."""

    pls: pd.DataFrame
    lines: pd.DataFrame
    shipments: pd.DataFrame | None = None
    snapshots: pd.DataFrame | None = None
    rates: dict = field(default_factory=dict)
    segments: pd.DataFrame | None = None
    previous_segments: pd.DataFrame | None = None
    intended: pd.DataFrame | None = None
    exceptions: pd.DataFrame | None = None
    entity_counts: pd.DataFrame | None = None
    changes: pd.DataFrame | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def pl_codes(pls: pd.DataFrame, product_id: pd.Series, location_id: pd.Series) -> np.ndarray:
    """Row number in `pls` (by its `entity_key` `product|location`) of each product/location pair, -1 if none."""
    keys = product_id.astype(str) + "|" + location_id.fillna("").astype(str)
    pos = pd.Index(pls["entity_key"]).get_indexer(keys)
    return pos.astype(np.int64)


def segment_of(pls: pd.DataFrame, pl: np.ndarray) -> pd.Categorical:
    """The product segment of each `pl` code as a categorical (`unsegmented` for -1)."""
    cats = sorted({*pls["segment"].astype(str).unique(), UNSEGMENTED})
    codes = np.append(pd.Categorical(pls["segment"].astype(str), categories=cats).codes, cats.index(UNSEGMENTED))
    return pd.Categorical.from_codes(codes[np.where(pl >= 0, pl, len(codes) - 1)], cats)


def prepare_lines(order_lines: pd.DataFrame, shipments: pd.DataFrame | None, pls: pd.DataFrame,
                  customer_segment: pd.Series | None = None,
                  shipment_lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Order lines not rejected, with `pl`, product `segment`, `customer_segment`, shipped quantity and
    arrival (from `shipment_lines` where an order has them, else `shipments`: see `shipped_per_line`),
    and per-unit cost and price (the line's own, else the product-location's cost)."""
    live = order_lines
    if "rejected" in live:
        live = live[~live["rejected"].fillna(False).astype(bool)]
    out = shipped_per_line(live.reset_index(drop=True), shipments, shipment_lines)
    out["pl"] = pl_codes(pls, out["product_id"], out["location_id"])
    out["segment"] = segment_of(pls, out["pl"].to_numpy())
    cust = customer_segment if customer_segment is not None else pd.Series(dtype=object)
    mapped = out["customer_id"].map(cust) if "customer_id" in out else pd.Series(np.nan, index=out.index)
    out["customer_segment"] = labels(mapped.astype(object))
    qty = out["quantity"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        own_cost = np.where(qty > 0, out["cost"].to_numpy(float) / qty, np.nan) if "cost" in out else np.nan
        price = np.where(qty > 0, out["net_value"].to_numpy(float) / qty, np.nan) if "net_value" in out else np.nan
    pl_cost = np.where(out["pl"] >= 0, pls["unit_cost"].to_numpy(float)[np.maximum(out["pl"].to_numpy(), 0)],
                       np.nan)
    out["unit_cost"] = np.where(np.isnan(own_cost), pl_cost, own_cost)
    known = out["cost"].to_numpy(float) if "cost" in out else np.full(len(out), np.nan)
    out["cost"] = np.where(np.isnan(known), qty * out["unit_cost"].to_numpy(float), known)  # margin needs a cost
    out["unit_price"] = price
    return out


def compute_all(inp: KpiInputs, period: str = "week", workers: int = 1) -> pd.DataFrame:
    """Every KPI row (docs/kpis.md) for the inputs, columns KPI_COLUMNS.

    `workers` > 1 runs the KPI families in that many forked processes (Linux), which read the inputs
    from the parent's memory without copying or pickling them; only the small result frames travel
    back. The benchmark uses both cores so; the store adapter keeps one."""
    jobs = _jobs(inp, period)
    if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
        global _PENDING
        _PENDING = jobs
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                parts = list(pool.map(_run_job, range(len(jobs))))
        finally:
            _PENDING = []
    else:
        parts = [job() for job in jobs]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)[KPI_COLUMNS] if parts else pd.DataFrame(columns=KPI_COLUMNS)


_PENDING: list = []  # the jobs a forked worker finds in the memory it inherited


def _run_job(i: int) -> pd.DataFrame:
    return _PENDING[i]()


def _jobs(inp: KpiInputs, period: str) -> list:
    """The KPI families as calls, heaviest first (so two workers finish close together)."""
    jobs = [lambda: inventory_kpis(inp.pls, inp.snapshots, inp.lines, period),
            lambda: service_kpis(inp.lines, period),
            lambda: customer_kpis(inp.lines, inp.shipments, inp.rates, period)]
    if inp.segments is not None:
        jobs.append(lambda: migration_kpis(inp.previous_segments, inp.segments))
    if inp.intended is not None and inp.exceptions is not None:
        jobs.append(lambda: _adherence(inp))
    jobs.append(lambda: promised_vs_achieved(inp.pls, inp.lines))
    if inp.entity_counts is not None:
        jobs.append(lambda: quarantine_kpis(inp.entity_counts, period))
    if inp.exceptions is not None:
        jobs.append(lambda: exception_kpis(inp.exceptions, inp.now, period))
    if inp.changes is not None:
        jobs.append(lambda: writeback_kpis(inp.changes, period))
    return jobs


def _adherence(inp: KpiInputs) -> pd.DataFrame:
    intended = inp.intended
    if "pl" not in intended:
        intended = intended.assign(pl=pd.Index(inp.pls["entity_key"]).get_indexer(intended["pl_key"]))
    return adherence_kpis(intended, inp.exceptions, inp.pls["segment"].to_numpy())
