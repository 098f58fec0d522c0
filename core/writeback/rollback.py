"""Rollback plans: restore the values that were in place before a given apply.

`segbridge plan --rollback RUN` takes RUN as an apply run (every change that apply applied,
including those it sent and a later run verified) or a segment run (every applied change of
every plan made from it). The value to restore is each change's `current_value` as planned; the
current value is the last value segbridge applied to that field. Fields whose earlier value was
unknown cannot be restored and are listed in the plan's `skipped`.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from basics.errors import SegbridgeError
from core.model import Plan, PlannedChange, Run
from core.statuses import ChangeState, RunKind
from core.store import read_frame, row_by_key
from core.writeback.plan import last_applied

KEYS = ["system", "entity", "target_key", "field"]


def applied_by_run(db, run_id: int) -> tuple[pd.DataFrame, int | None]:
    """Applied changes of an apply run or of the plans of a segment run, and the segment run id."""
    pc = PlannedChange.__table__
    run = row_by_key(db, Run.__table__, run_id,
                     SegbridgeError(f"run {run_id} not found", hint="name an apply run (see `segbridge runs`)"))
    if run.kind == RunKind.APPLY:
        stmt = select(pc).where(pc.c.state == ChangeState.APPLIED, pc.c.batch_id.like(f"r{run_id}-%"))
        return read_frame(db, stmt.order_by(pc.c.id)), run.parent_run_id
    if run.kind == RunKind.SEGMENT:
        plans = select(Plan.__table__.c.id).where(Plan.__table__.c.run_id == run_id)
        stmt = select(pc).where(pc.c.state == ChangeState.APPLIED, pc.c.plan_id.in_(plans))
        return read_frame(db, stmt.order_by(pc.c.id)), run_id
    raise SegbridgeError(f"run {run_id} is a {run.kind} run; a rollback needs an apply or a segment run",
                         hint="find the apply run id in `segbridge runs` (kind apply)")


def rollback_frame(db, run_id: int, systems: list[str] | None = None
                   ) -> tuple[pd.DataFrame, int | None, list[str]]:
    """(changes to diff, source segment run, skipped notes): intended = value before the apply."""
    applied, source_run = applied_by_run(db, run_id)
    if systems:
        applied = applied[applied["system"].isin(systems)]
    if applied.empty:
        raise SegbridgeError(f"run {run_id} applied no changes; there is nothing to roll back")
    first = applied.sort_values("id").drop_duplicates(KEYS, keep="first")
    skipped = []
    unknown = first["current_value"].isna()
    if unknown.any():
        skipped.append(f"{int(unknown.sum())} field(s) had no known value before run {run_id} and are not restored")
    first = first[~unknown]
    now = last_applied(db, sorted(first["system"].unique())).rename(columns={"applied_value": "current_value"})
    frame = first[KEYS + ["current_value"]].rename(columns={"current_value": "intended_value"}).merge(
        now[KEYS + ["current_value"]], on=KEYS, how="left")
    frame = frame.assign(source=None, canonical_entity=None, canonical_key=None, unit_cost=None)
    return frame.reset_index(drop=True), source_run, skipped
