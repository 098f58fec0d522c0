"""Write-back plans: intended values diffed with what the targets hold, guarded, saved and exported.

`make_plan` compares each intended value (`core.writeback.intended`) with the current one: by
default what that system's last pull saw, or what segbridge itself applied to it since (whichever is
newer; the applied value alone where another system's pull filled a shared column last), or,
with `live=True`, what the system returns from `connector.read_back` now. Only real changes
(beyond the field's tolerance) become PlannedChange rows of the outbox. Guardrails send the plan
to `needs_approval`; a plan derived from a suspect run is `blocked` until a steward releases it.
Fields left as the systems hold them because the engine's class is `none` (no demand history) are
counted in the summary (`skipped_counts`, `no_demand`), not reported as warnings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
from sqlalchemy import func, insert, select

from basics.users import actor_or_current
from core.model import AuditEvent, Plan, PlannedChange, utcnow
from core.settings import SegbridgeConfig
from core.statuses import ChangeState, PlanStatus
from core.writeback.intended import NO_DEMAND
from core.writeback.values import as_number, direction, same, to_text
from core.writeback.writeback_settings import WritebackConfig, writeback_config

log = logging.getLogger("segbridge.writeback")
CHANGE_COLUMNS = ["system", "entity", "target_key", "field", "current_value", "intended_value", "value_impact",
                  "source", "canonical_entity", "canonical_key"]
SUMMARY_KEYS = ["system", "entity", "field"]


def last_applied(db, systems: list[str] | None = None) -> pd.DataFrame:
    """The latest applied value per target field (what segbridge itself wrote), with when."""
    pc = PlannedChange.__table__
    latest = (select(pc.c.system, pc.c.entity, pc.c.target_key, pc.c.field, func.max(pc.c.id).label("id"))
              .where(pc.c.state == ChangeState.APPLIED).group_by(pc.c.system, pc.c.entity, pc.c.target_key, pc.c.field))
    if systems:
        latest = latest.where(pc.c.system.in_(systems))
    sub = latest.subquery()
    stmt = select(sub.c.system, sub.c.entity, sub.c.target_key, sub.c.field,
                  pc.c.intended_value.label("applied_value"), pc.c.updated_at.label("applied_at")
                  ).join(pc, pc.c.id == sub.c.id)
    from core.store import read_frame

    return read_frame(db, stmt)


def stored_current(db, intended: pd.DataFrame) -> pd.Series:
    """Current values from the store: the last pull's, unless segbridge applied a newer value since."""
    if intended.empty:
        return pd.Series([], dtype=object)
    applied = last_applied(db, sorted(intended["system"].unique()))
    merged = intended.merge(applied, how="left", on=["system", "entity", "target_key", "field"])
    loaded = pd.to_datetime(merged["loaded_at"], utc=True, errors="coerce")
    applied_at = pd.to_datetime(merged["applied_at"], utc=True, errors="coerce")
    newer = merged["applied_value"].notna() & (merged["stored_value"].isna() | loaded.isna() | (applied_at > loaded))
    return merged["applied_value"].where(newer, merged["stored_value"]).set_axis(intended.index)


def live_current(config: SegbridgeConfig, intended: pd.DataFrame) -> pd.Series:
    """Current values read from each system now through its connector's `read_back`."""
    from core.connector_factory import connector_for

    found: dict[tuple, str | None] = {}
    for (system, entity), grp in intended.groupby(["system", "entity"]):
        keys = [json.loads(k) for k in pd.unique(grp["target_key"])]
        key_fields = sorted(keys[0]) if keys else []
        with connector_for(config, system) as conn:
            size = max(1, writeback_config(config).batch_size_of(config, system))
            for start in range(0, len(keys), size):
                for rec in conn.read_back(entity, keys[start:start + size]):
                    tkey = json.dumps({k: to_text(rec.get(k)) for k in key_fields}, sort_keys=True)
                    for fld, value in rec.items():
                        found[(system, entity, tkey, fld)] = to_text(value)
    index = list(zip(intended["system"], intended["entity"], intended["target_key"], intended["field"], strict=False))
    return pd.Series([found.get(k) for k in index], index=intended.index, dtype=object)


def real_changes(frame: pd.DataFrame, wb: WritebackConfig) -> pd.DataFrame:
    """Rows whose current value differs from the intended one beyond the field's tolerance."""
    if frame.empty:
        return frame.assign(value_impact=pd.Series(dtype=float)).reindex(columns=CHANGE_COLUMNS)
    keep = [not same(cur, new, wb.tolerance(s, e, f, src)) for s, e, f, src, cur, new in zip(
        frame["system"], frame["entity"], frame["field"], frame["source"], frame["current_value"],
        frame["intended_value"], strict=False)]
    changes = frame[keep].copy()
    changes["value_impact"] = [_impact(src, cur, new, cost, wb) for src, cur, new, cost in zip(
        changes["source"], changes["current_value"], changes["intended_value"],
        changes.get("unit_cost", pd.Series(None, index=changes.index)), strict=False)]
    return changes.reindex(columns=CHANGE_COLUMNS).reset_index(drop=True)


def _impact(source, current, intended, cost, wb: WritebackConfig) -> float | None:
    """Value of a quantity change at unit cost (safety stock up 10 at 4.50 -> 45.0)."""
    new, unit = as_number(intended), as_number(cost)
    if source not in wb.value_fields or new is None or unit is None:
        return None
    return round((new - (as_number(current) or 0.0)) * unit, 6)


def guardrail_reasons(intended: pd.DataFrame, changes: pd.DataFrame, wb: WritebackConfig) -> list[str]:
    """Why the plan needs approval (empty when it does not)."""
    g, reasons = wb.guardrails, []
    if g.approval_required:
        reasons.append("writeback.guardrails.approval_required is set")
    record = ["system", "entity", "target_key"]
    classes = intended[intended["source"].isin(g.class_fields)].drop_duplicates(record)
    if len(classes):
        moved = changes[changes["source"].isin(g.class_fields)].drop_duplicates(record)
        share = len(moved) / len(classes)
        if share > g.max_class_change_share:
            reasons.append(f"{len(moved)} of {len(classes)} items change class ({share:.1%} > "
                           f"{g.max_class_change_share:.1%})")
    ss = intended[intended["source"] == "safety_stock"]
    if len(ss) and "unit_cost" in ss:
        cost = ss["unit_cost"].map(as_number)
        before = (ss["current_value"].map(as_number) * cost).sum(min_count=1)
        after = (ss["intended_value"].map(as_number) * cost)[ss["current_value"].notna()].sum(min_count=1)
        if pd.notna(before) and pd.notna(after) and after > before:
            pct = float("inf") if before <= 0 else (after - before) / before * 100
            if pct > g.max_safety_stock_value_increase_pct:
                reasons.append(f"safety-stock value rises {pct:.1f}% ({before:,.2f} -> {after:,.2f}; limit "
                               f"{g.max_safety_stock_value_increase_pct:g}%)")
    return reasons


def summarize(changes: pd.DataFrame) -> list[dict]:
    """Per system, entity and field: changes, increases, decreases, value impact."""
    if changes.empty:
        return []
    d = pd.Series([direction(c, n) for c, n in zip(changes["current_value"], changes["intended_value"], strict=False)],
                  index=changes.index)
    frame = changes.assign(increase=(d > 0).astype(int), decrease=(d < 0).astype(int),
                           impact=pd.to_numeric(changes["value_impact"], errors="coerce"))
    grouped = frame.groupby(SUMMARY_KEYS, sort=True).agg(
        changes=("field", "size"), increases=("increase", "sum"), decreases=("decrease", "sum"),
        value_impact=("impact", lambda s: round(float(s.sum()), 2) if s.notna().any() else None))
    return [{**dict(zip(SUMMARY_KEYS, k, strict=False)), **{c: (None if pd.isna(v) else (int(v) if c != "value_impact" else v))
                                               for c, v in row.items()}}
            for k, row in zip(grouped.index, grouped.to_dict("records"), strict=False)]


def no_demand_note(no_demand: dict[str, int]) -> str:
    """One summary line for the fields left as the systems hold them because the engine's class is `none`."""
    per_field = ", ".join(f"{name} {n}" for name, n in sorted(no_demand.items()))
    return f"{NO_DEMAND}: {sum(no_demand.values())} value(s) left as the systems hold them ({per_field})"


def save_plan(db, run_id: int | None, kind: str, status: str, reason: str | None, summary: dict,
              changes: pd.DataFrame, planned_by: str | None = None) -> int:
    """Insert the plan and its changes in one transaction (set-based); returns the plan id.

    `planned_by` (default: the OS user) is kept on the plan so approval can require a second person.
    """
    now, planner = utcnow(), actor_or_current(planned_by)
    with db.begin() as conn:
        plan_id = conn.execute(insert(Plan.__table__).values(
            run_id=run_id, kind=kind, status=status, reason=reason, summary=json.dumps(summary, default=str),
            created_at=now, planned_by=planner)).inserted_primary_key[0]
        rows = [{"plan_id": plan_id, "system": r["system"], "entity": r["entity"], "target_key": r["target_key"],
                 "field": r["field"], "current_value": to_text(r["current_value"]),
                 "intended_value": to_text(r["intended_value"]), "value_impact": _float(r["value_impact"]),
                 "state": ChangeState.PENDING, "attempts": 0, "updated_at": now}
                for r in changes.to_dict("records")]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(PlannedChange.__table__), rows[start:start + 5000])
        conn.execute(insert(AuditEvent.__table__).values(
            at=now, actor=planner, action="plan", entity="plan", entity_key=str(plan_id), run_id=run_id,
            after=json.dumps({"status": status, "kind": kind, "changes": len(rows)}), reason=reason))
    return int(plan_id)


def _float(value) -> float | None:
    number = as_number(value)
    return None if number is None else number


def export_plan(plan_id: int, changes: pd.DataFrame, summary: dict, out_dir: Path) -> dict[str, str]:
    """Write plan-<id>.csv (one row per change) and plan-<id>.json (summary and changes), both private
    (0600); the CSV's text cells are neutralised so no source value opens as a live formula."""
    from core.reports.spreadsheet import write_csv, write_private_text

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / f"plan-{plan_id}.csv", out_dir / f"plan-{plan_id}.json"
    write_csv(changes, csv_path)
    records = changes.astype(object).where(changes.notna(), None).to_dict("records")
    write_private_text(json.dumps({"plan_id": plan_id, **summary, "changes": records}, indent=2, default=str),
                       json_path)
    return {"csv": str(csv_path), "json": str(json_path)}


def plan_status(db, run_id: int | None, reasons: list[str],
                check_run: bool = True) -> tuple[PlanStatus, str | None]:
    """blocked (suspect source run), needs_approval (guardrails) or ready, with the reason."""
    from core.quality import is_blocked

    if check_run and run_id is not None and is_blocked(db, run_id):
        return PlanStatus.BLOCKED, (f"segment run {run_id} derives from a suspect pull (data-quality threshold); "
                           f"release it with `segbridge runs release RUN --reason ...` and plan again")
    if reasons:
        return PlanStatus.NEEDS_APPROVAL, "; ".join(reasons)
    return PlanStatus.READY, None


def make_plan(config: SegbridgeConfig, db, systems: list[str] | None = None, live: bool = False,
              rollback_of: int | None = None, out_dir: Path | str | None = None, actor: str | None = None) -> Plan:
    """Compute, guard, save and export a plan; returns the saved Plan (summary JSON included).

    `actor` is who makes the plan: a web app passes its logged-in user; by default it is the OS user
    of this process (the person at the CLI, or the account the scheduler runs as).
    """
    wb = writeback_config(config)
    no_demand: dict[str, int] = {}
    if rollback_of is not None:
        from core.writeback.rollback import rollback_frame

        frame, run_id, skipped = rollback_frame(db, rollback_of, systems)
        kind = "rollback"
    else:
        from core.writeback.intended import intended_result

        result = intended_result(config, db, systems)
        frame, run_id, skipped, kind = result.frame, result.run_id, list(result.skipped), "normal"
        no_demand = result.no_demand
        if no_demand:
            skipped.append(no_demand_note(no_demand))
        frame["current_value"] = live_current(config, frame) if live else stored_current(db, frame)
    changes = real_changes(frame, wb)
    reasons = guardrail_reasons(frame, changes, wb) if kind == "normal" else (
        ["writeback.guardrails.approval_required is set"] if wb.guardrails.approval_required else [])
    status, reason = plan_status(db, run_id, reasons, check_run=kind == "normal")
    summary = {"kind": kind, "run_id": run_id, "rollback_of": rollback_of, "live": live, "status": status,
               "reason": reason, "changes": int(len(changes)), "compared": int(len(frame)),
               "rows": summarize(changes), "skipped": skipped,
               "skipped_counts": {NO_DEMAND: int(sum(no_demand.values()))}, "no_demand": no_demand}
    plan_id = save_plan(db, run_id, kind, status, reason, summary, changes, planned_by=actor)
    folder = Path(out_dir) if out_dir else config.resolve_path(wb.out_dir)
    summary["files"] = export_plan(plan_id, changes, summary, folder)
    with db.begin() as conn:
        conn.execute(Plan.__table__.update().where(Plan.__table__.c.id == plan_id).values(
            summary=json.dumps(summary, default=str)))
    return load_plan(db, plan_id)


def load_plan(db, plan_id: int) -> Plan:
    """A saved plan (SegbridgeError with a hint when it does not exist)."""
    from sqlmodel import Session

    from basics.errors import SegbridgeError

    with Session(db) as s:
        plan = s.get(Plan, plan_id)
        if plan is None:
            raise SegbridgeError(f"plan {plan_id} not found", hint="list plans with `segbridge plan` output or "
                                 "the plans/ folder; make one with `segbridge plan`")
        s.expunge(plan)
        return plan
