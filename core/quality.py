"""Run-level data quality: thresholds mark a run suspect; a steward's audited release unblocks it.

`load_batch` counts read/loaded/quarantined per run and entity in `EntityCount`.
`finish_run_quality` compares each entity's quarantined share with its threshold (default
2 %) and marks the run suspect. Nothing derived from a suspect run may be written back
(`is_blocked`, which follows `Run.parent_run_id` up the chain) until `release_run` records who
released it and why (`segbridge runs release RUN --reason ...`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from basics.errors import ConfigError, SegbridgeError
from core import runs
from core.model import AuditEvent, EntityCount, Run, utcnow
from core.store import row_by_key

DEFAULT_THRESHOLD = 0.02


@dataclass
class EntityQuality:
    system: str
    entity: str
    read: int
    quarantined: int
    share: float
    threshold: float
    breached: bool


def threshold_for(thresholds: dict[str, float] | float | None, system: str, entity: str) -> float:
    """Per-entity threshold: 'system.entity', then 'entity', then 'default', then 2 %.

    The one lookup: the pull's suspect check and reconcile's completeness check both use it, so
    they agree on what "too much quarantined" means for an entity."""
    if thresholds is None:
        return DEFAULT_THRESHOLD
    if isinstance(thresholds, int | float):
        return float(thresholds)
    for key in (f"{system}.{entity}", entity, "default"):
        if key in thresholds:
            return float(thresholds[key])
    return DEFAULT_THRESHOLD


def thresholds_of(quality, system: str, entities: dict) -> dict[str, float]:
    """The thresholds of one system's pull, for `threshold_for`, most specific first:

    the mapping entity's `quality.threshold`; `quality.per_entity` by 'system.entity', by the
    mapping entity's name, or by its canonical target (e.g. `order_line`); then
    `quality.max_quarantine_share`. `quality` is the config's QualityConfig, `entities` the
    pulled mapping entities by name."""
    per = dict(quality.per_entity)
    out = {"default": quality.max_quarantine_share, **per}
    for name, em in entities.items():
        key = f"{system}.{name}"
        if key not in per and name not in per and em.target in per:
            out[key] = per[em.target]
        if em.quality.threshold is not None:
            out[key] = em.quality.threshold
    return out


def finish_run_quality(db, run_id: int, thresholds: dict[str, float] | float | None = None) -> list[EntityQuality]:
    """Evaluate the run's entity counts; mark the run suspect (audited) if any share passes its threshold."""
    table = EntityCount.__table__
    with db.begin() as conn:
        rows = conn.execute(select(table).where(table.c.run_id == run_id)).fetchall()
        report = []
        for r in rows:
            share = (r.quarantined / r.read) if r.read else 0.0
            limit = threshold_for(thresholds, r.system, r.entity)
            report.append(EntityQuality(r.system, r.entity, r.read, r.quarantined, share, limit, share > limit))
        breached = [q for q in report if q.breached]
        if breached:
            _mark_suspect(conn, run_id, breached)
    return report


def _mark_suspect(conn, run_id: int, breached: list[EntityQuality]) -> None:
    detail = "; ".join(f"{q.system}.{q.entity}: {q.quarantined}/{q.read} quarantined "
                       f"({q.share:.1%} > {q.threshold:.1%})" for q in breached)
    runs.mark_suspect(conn, run_id, detail)
    conn.execute(AuditEvent.__table__.insert().values(
        at=utcnow(), actor="segbridge", action="run_suspect", entity="run", entity_key=str(run_id),
        after=json.dumps({"suspect": True}), reason=detail, run_id=run_id))


def _run(conn, run_id: int):
    return row_by_key(conn, Run.__table__, run_id,
                      SegbridgeError(f"run {run_id} not found", hint="list runs with `segbridge runs list`"))


def is_blocked(db, run_id: int) -> bool:
    """True when this run, or any run it derives from, is suspect and not released."""
    seen: set[int] = set()
    with db.connect() as conn:
        current: int | None = run_id
        while current is not None and current not in seen:
            seen.add(current)
            row = _run(conn, current)
            if row.suspect and not row.released_by:
                return True
            current = row.parent_run_id
    return False


def release_run(db, run_id: int, by: str, reason: str) -> None:
    """A steward releases a suspect run for write-back; who and why go to the run and the audit log."""
    if not reason or not reason.strip():
        raise ConfigError("a release needs a reason", hint="pass --reason 'why the data is fine'")
    if not by or not by.strip():
        raise ConfigError("a release needs the steward's name", hint="pass --by NAME")
    with db.begin() as conn:
        row = _run(conn, run_id)
        if not row.suspect:
            raise SegbridgeError(f"run {run_id} is not suspect; nothing to release")
        if row.released_by:
            raise SegbridgeError(f"run {run_id} was already released by {row.released_by}")
        runs.mark_released(conn, run_id, by, reason)
        conn.execute(AuditEvent.__table__.insert().values(
            at=utcnow(), actor=by, action="release", entity="run", entity_key=str(run_id),
            before=json.dumps({"suspect": True, "released_by": None}),
            after=json.dumps({"suspect": True, "released_by": by}), reason=reason, run_id=run_id))
