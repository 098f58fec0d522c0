"""Store adapter of the KPIs: read a segment run and the canonical tables into `KpiInputs`, compute,
and keep the rows in `kpi_value` (replacing that run's earlier rows, in one transaction). Fill rate
and OTIF read `shipment_line` where an order has lines (partial deliveries show) and the
order-level `shipment` otherwise.

When: `segbridge kpis --compute` (and the demo, after its reconcile) computes them for the latest
segment run or a given one. Governance KPIs (adherence, exceptions, write-back) describe the
systems at the time of computing, so compute after the cycle's reconcile; recomputing a run
replaces its rows (docs/kpis.md, "When KPIs are computed").
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import delete, select

from basics.errors import ConfigError, SegbridgeError
from core.kpis.all_kpis import KpiInputs, compute_all, pl_codes, prepare_lines
from core.kpis.kpi_rows import KPI_COLUMNS
from core.model import (
    EntityCount,
    InventorySnapshot,
    KpiValue,
    OrderLine,
    ParameterValue,
    PlannedChange,
    Product,
    ProductLocation,
    ReconException,
    Run,
    SegmentAssignment,
    Shipment,
    ShipmentLine,
)
from core.statuses import RunKind, RunStatus
from core.store import read_frame, upsert

log = logging.getLogger("segbridge.kpis")
PL_PARAMETERS = ["max_qty", "service_level", "achieved_service", "achieved_fill_rate"]


def segment_runs(db) -> list[int]:
    """Ids of the successful segment runs, oldest first."""
    with db.connect() as conn:
        return [r[0] for r in conn.execute(select(Run.id).where(Run.kind == RunKind.SEGMENT,
                                                                Run.status == RunStatus.OK).order_by(Run.id))]


def resolve_run(db, run_id: int | None) -> tuple[int, int | None]:
    """(the segment run, the one before it or None); the latest when `run_id` is None."""
    ids = segment_runs(db)
    if not ids:
        raise ConfigError("no successful segment run in the store to compute KPIs for",
                          hint="run `segbridge segment` (or the cycle) first")
    rid = ids[-1] if run_id is None else run_id
    if rid not in ids:
        raise ConfigError(f"run {rid} is not a successful segment run",
                          hint=f"segment runs: {', '.join(map(str, ids[-10:]))}")
    earlier = [i for i in ids if i < rid]
    return rid, (earlier[-1] if earlier else None)


def _segments(db, run_id: int) -> pd.DataFrame:
    t = SegmentAssignment.__table__
    return read_frame(db, select(t).where(t.c.run_id == run_id))


def product_locations(db, run_id: int, segments: pd.DataFrame) -> pd.DataFrame:
    """The run's product-locations: key, segment, unit cost and the parameters the KPIs read."""
    seg = segments[(segments["entity"] == "product_location") & (segments["dimension"] == "segment")]
    pls = pd.DataFrame({"entity_key": seg["entity_key"].to_numpy(), "segment": seg["value"].astype(str).to_numpy()})
    t = ParameterValue.__table__
    par = read_frame(db, select(t.c.entity_key, t.c.name, t.c.value_num).where(
        t.c.run_id == run_id, t.c.entity == "product_location", t.c.name.in_(PL_PARAMETERS)))
    wide = par.pivot_table(index="entity_key", columns="name", values="value_num", aggfunc="first")
    for name in PL_PARAMETERS:
        pls[name] = pls["entity_key"].map(wide[name]) if name in wide else float("nan")
    pl = read_frame(db, select(ProductLocation.product_id, ProductLocation.location_id, ProductLocation.unit_cost))
    prod = read_frame(db, select(Product.id, Product.unit_cost))
    cost = pd.Series(pl["unit_cost"].to_numpy(float), index=pl["product_id"] + "|" + pl["location_id"])
    product_of = pls["entity_key"].str.split("|").str[0]
    pls["unit_cost"] = pls["entity_key"].map(cost).fillna(product_of.map(prod.set_index("id")["unit_cost"]))
    return pls.sort_values("entity_key").reset_index(drop=True)


def load_inputs(db, run_id: int, previous: int | None, config=None) -> KpiInputs:
    """Everything `compute_all` needs for segment run `run_id` (and the run before it)."""
    segments = _segments(db, run_id)
    pls = product_locations(db, run_id, segments)
    cust = segments[(segments["entity"] == "customer") & (segments["dimension"] == "segment")]
    cust_seg = pd.Series(cust["value"].to_numpy(), index=cust["entity_key"].to_numpy())
    order_lines = read_frame(db, OrderLine)
    shipments = read_frame(db, Shipment)
    t = ShipmentLine.__table__
    shipment_lines = read_frame(db, select(t.c.order_id, t.c.order_line_no, t.c.quantity, t.c.ship_date,
                                           t.c.delivery_date))
    lines = prepare_lines(order_lines, shipments, pls, cust_seg, shipment_lines)
    shipments = shipments.assign(customer_segment=shipments["customer_id"].map(cust_seg))
    snaps = read_frame(db, InventorySnapshot)
    if len(snaps):
        snaps["pl"] = pl_codes(pls, snaps["product_id"], snaps["location_id"])
        snaps = snaps[snaps["pl"] >= 0]
    return KpiInputs(pls=pls, lines=lines, shipments=shipments, snapshots=snaps, rates=_rates(config),
                     segments=segments, previous_segments=_segments(db, previous) if previous else None,
                     intended=_intended(config, db, run_id), exceptions=read_frame(db, ReconException),
                     entity_counts=_pull_counts(db), changes=read_frame(db, PlannedChange),
                     now=datetime.now(UTC))


def _rates(config) -> dict:
    """The policy's customer cost rates (none without a config)."""
    if config is None:
        return {}
    from core.planning_store import resolve_policy

    return resolve_policy(config).customers.cost_rates.model_dump()


def _intended(config, db, run_id: int) -> pd.DataFrame | None:
    """Intended values of product-locations with their `pl_key`; None without a config (adherence then skipped)."""
    if config is None:
        return None
    from core.writeback.intended import intended_values

    try:
        frame = intended_values(config, db, run_id=run_id)
    except SegbridgeError as exc:
        log.warning("policy adherence not computed: %s", exc.message)
        return None
    frame = frame[frame["canonical_entity"] == "product_location"]
    if frame.empty:
        return frame.assign(pl_key=pd.Series(dtype=object))
    keys = [json.loads(k) if isinstance(k, str) else k for k in frame["canonical_key"]]
    target = [k if isinstance(k, str) else json.dumps(k, sort_keys=True) for k in frame["target_key"]]
    return frame.assign(pl_key=[f"{k['product_id']}|{k['location_id']}" for k in keys], target_key=target)


def _pull_counts(db) -> pd.DataFrame:
    e, r = EntityCount.__table__, Run.__table__
    return read_frame(db, select(e.c.system, e.c.entity, e.c.read, e.c.quarantined, r.c.started_at)
                      .join(r, r.c.id == e.c.run_id).where(r.c.kind == RunKind.PULL))


def compute_and_save(db, run_id: int | None = None, config=None, period: str = "week") -> tuple[int, int]:
    """Compute every KPI of the segment run and replace its rows in `kpi_value`; (run id, rows)."""
    rid, previous = resolve_run(db, run_id)
    rows = compute_all(load_inputs(db, rid, previous, config), period)
    rows = rows.assign(run_id=rid, scope=rows["scope"].fillna(""), computed_at=datetime.now(UTC))
    with db.begin() as conn:
        conn.execute(delete(KpiValue.__table__).where(KpiValue.__table__.c.run_id == rid))
        upsert(conn, KpiValue, rows)
    log.info("computed %d KPI rows for segment run %d", len(rows), rid)
    return rid, len(rows)


def read_kpis(db, run_id: int | None = None, segment: str | None = None, period: str | None = None,
              kpi: str | None = None, all_runs: bool = False) -> pd.DataFrame:
    """Stored KPI rows: of one run (default the latest with KPIs) or of every run (`all_runs`, for trends)."""
    t = KpiValue.__table__
    stmt = select(t)
    if not all_runs:
        rid = run_id
        if rid is None:
            with db.connect() as conn:
                rid = conn.execute(select(t.c.run_id).order_by(t.c.run_id.desc()).limit(1)).scalar()
        stmt = stmt.where(t.c.run_id == (rid if rid is not None else -1))
    for col, want in ((t.c.segment, segment), (t.c.period, period), (t.c.kpi, kpi)):
        if want is not None:
            stmt = stmt.where(col == want)
    frame = read_frame(db, stmt.order_by(t.c.run_id, t.c.kpi, t.c.segment, t.c.scope, t.c.period))
    return frame[["run_id", *KPI_COLUMNS]]
