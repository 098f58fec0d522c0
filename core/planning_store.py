"""Store adapter of the engine: read the canonical tables, run the engine, save a 'segment' run.

Kept apart from core.planning.engine so the planning maths never imports the store (it can run on a bigger
engine later). One transaction per run: the run row, its assignments, parameters and audit events
are saved together or not at all.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select

from basics.yaml_loader import read_yaml
from core import runs
from core.model import (
    AuditEvent,
    Customer,
    OrderLine,
    Override,
    ParameterValue,
    Product,
    ProductLocation,
    Receipt,
    Run,
    SegmentAssignment,
    Shipment,
)
from core.planning.engine import EngineOptions, EngineResult, result_summary, run_engine
from core.planning.governance import audit_events
from core.planning.policy import Policy, load_policy
from core.statuses import RunKind, RunStatus, Trigger
from core.store import read_frame, upsert

TABLES = {"order_lines": OrderLine, "products": Product, "product_locations": ProductLocation,
          "customers": Customer, "shipments": Shipment, "receipts": Receipt}


def resolve_policy(config_or_policy_path=None) -> Policy:
    """A Policy from: nothing (the shipped default), a Policy, a SegbridgeConfig (its
    `segmentation.policy` file), or a path to either a policy YAML or segbridge.yaml."""
    if config_or_policy_path is None:
        return load_policy()
    if isinstance(config_or_policy_path, Policy):
        return config_or_policy_path
    if hasattr(config_or_policy_path, "segmentation"):
        cfg = config_or_policy_path
        ref = cfg.segmentation.policy
        return load_policy(cfg.resolve_path(ref) if ref else None)
    path = Path(config_or_policy_path)
    head = read_yaml(path).data if path.is_file() else None
    if isinstance(head, dict) and ({"database", "systems"} & set(head)):
        from core.settings import load_config

        return resolve_policy(load_config(path))
    return load_policy(path)


def load_frames(db) -> dict[str, pd.DataFrame]:
    """The canonical input tables as frames (dates as datetime64). Order lines are marked
    `attrs["keys_unique"]`: the table's key is order_id + line_no, so the engine's cleaning
    (core.planning.cleaning) need not hash millions of keys looking for duplicates."""
    frames = {name: read_frame(db, model) for name, model in TABLES.items()}
    for name, cols in (("order_lines", ["order_date", "requested_date"]),
                       ("receipts", ["order_date", "promised_date", "receipt_date"])):
        for c in cols:
            frames[name][c] = pd.to_datetime(frames[name][c])
    frames["order_lines"].attrs["keys_unique"] = True
    return frames


def previous_runs(db, n: int) -> list[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """(run id, segments, parameters) of the last `n` successful segment runs, most recent first."""
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(select(Run.id).where(Run.kind == RunKind.SEGMENT, Run.status == RunStatus.OK)
                                          .order_by(Run.id.desc()).limit(n))]
    out = []
    for rid in ids:
        seg = read_frame(db, select(SegmentAssignment.__table__).where(SegmentAssignment.run_id == rid))
        par = read_frame(db, select(ParameterValue.__table__).where(ParameterValue.run_id == rid))
        out.append((rid, seg, par))
    return out


def segment_from_store(db, config_or_policy_path=None, trigger: str = Trigger.MANUAL,
                       today: date | None = None) -> int:
    """Run the engine on the store's canonical data and save the run; returns the run id."""
    policy = resolve_policy(config_or_policy_path)
    frames = load_frames(db)
    prev = previous_runs(db, max(policy.governance.persist_runs, 1))
    opts = EngineOptions(today=today, history=[s for _, s, _ in prev], overrides=read_frame(db, Override))
    result = run_engine(frames, policy, opts)
    return save_run(db, result, trigger, prev[0] if prev else None)


def save_run(db, result: EngineResult, trigger: str, previous=None) -> int:
    """Save the run, its assignments and parameters and one audit event per change, atomically."""
    with db.begin() as conn:
        run_id = runs.start_run(conn, RunKind.SEGMENT, trigger=trigger, ruleset_hash=result.ruleset_hash,
                                parent_run_id=previous[0] if previous else None)
        upsert(conn, SegmentAssignment, result.segments.assign(run_id=run_id))
        upsert(conn, ParameterValue, result.parameters.assign(run_id=run_id))
        events = change_events(result, previous, run_id)
        if len(events):
            rows = events.astype(object).where(events.notna(), None).to_dict("records")
            conn.execute(insert(AuditEvent.__table__), rows)
        runs.finish_run(conn, run_id, RunStatus.OK, counts=run_counts(result, len(events)),
                        message="; ".join(result.warnings) or None)
    return int(run_id)


def run_counts(result: EngineResult, audit_events: int) -> dict:
    """The engine's summary as run counts: whole numbers only (warnings go to the run's message,
    the safety-stock value is rounded to whole currency units)."""
    summary = result_summary(result)
    summary.pop("warnings", None)
    summary["safety_stock_value"] = round(summary.get("safety_stock_value") or 0.0)
    return summary | {"audit_events": int(audit_events)}


def change_events(result: EngineResult, previous, run_id: int) -> pd.DataFrame:
    """Audit events for every segment and parameter that differs from the previous run (or is new)."""
    prev_seg = previous[1] if previous else None
    prev_par = previous[2] if previous else None
    seg = result.segments.reset_index(drop=True)
    why = ("computed by rule set " + result.ruleset_hash[:12] + " (" + seg["source"].astype(str)
           + ", metric " + pd.to_numeric(seg["metric"], errors="coerce").round(4).astype(str) + ")")
    ev1 = audit_events(prev_seg, seg, ["entity", "entity_key", "dimension"], ["value"], "segment_change",
                       run_id, why)
    par = result.parameters
    par = par[~par["name"].astype(str).str.startswith("achieved_")].reset_index(drop=True)  # replay, not a decision
    seg_of = result.product_locations.set_index("entity_key")
    rule = par["entity_key"].map(seg_of["rule"]).fillna("customer policy")
    segment = par["entity_key"].map(seg_of["segment"]).fillna("")
    why_p = "segment " + segment.astype(str) + " via policy rule '" + rule.astype(str) + "'"
    ev2 = audit_events(prev_par, par, ["entity", "entity_key", "name"], ["value_num", "value_text"],
                       "parameter_change", run_id, why_p)
    return pd.concat([ev1, ev2], ignore_index=True)
