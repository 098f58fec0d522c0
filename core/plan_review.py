"""Plan review line by line, override requests, and a run's parameters against the run before it.

Approving a whole plan is `core.writeback.approve.approve` (the CLI's function, four eyes
included); this module adds the reviewer's per-line decision: an approved line stays pending for
apply, a rejected line leaves the outbox (`state` rejected with the reviewer's reason, which apply
never sends). A reviewer may not review lines of a plan they made (four eyes, as for approval), and
every line carries a version so two reviewers never overwrite each other.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from basics.errors import BlockedError, ConfigError, SegbridgeError
from core.model import AuditEvent, Override, ParameterValue, PlannedChange, Run, SegmentAssignment, utcnow
from core.reconcile.discrepancies import check_versions
from core.statuses import ChangeState, PlanStatus
from core.store import row_by_key
from core.writeback.plan import load_plan

_P = PlannedChange.__table__
_O = Override.__table__
_A = AuditEvent.__table__
_V = ParameterValue.__table__
_G = SegmentAssignment.__table__
_R = Run.__table__
DECISIONS = ("approved", "rejected")
REVIEWABLE = {PlanStatus.READY, PlanStatus.NEEDS_APPROVAL, PlanStatus.APPROVED}


def plan_lines(db: Engine, plan_id: int, page: int = 1, size: int = 100) -> tuple[list[PlannedChange], int]:
    """One page of a plan's lines (old -> new per field) and how many there are."""
    size = max(1, min(int(size), 1000))
    stmt = select(_P).where(_P.c.plan_id == plan_id).order_by(_P.c.id).limit(size).offset((max(1, page) - 1) * size)
    with db.connect() as conn:
        rows = [PlannedChange.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]
        total = conn.execute(select(func.count()).select_from(_P).where(_P.c.plan_id == plan_id)).scalar_one()
    return rows, total


def review_lines(db: Engine, plan_id: int, line_ids: list[int] | None, decision: str, actor: str,
                 reason: str | None = None, versions: dict[int, int] | None = None) -> int:
    """Approve or reject lines of a plan (None: every pending line), all or none, audited."""
    if decision not in DECISIONS:
        raise ConfigError(f"unknown decision {decision!r}", hint="approved or rejected")
    if decision == "rejected" and not (reason or "").strip():
        raise ConfigError("rejecting a line needs a reason")
    plan = load_plan(db, plan_id)
    if plan.status not in REVIEWABLE:
        raise SegbridgeError(f"plan {plan_id} is {plan.status}; only a ready, needs_approval or approved plan's "
                             "lines can be reviewed")
    if plan.planned_by and plan.planned_by == actor:
        raise BlockedError(f"plan {plan_id} was made by {actor}; its review needs a second person (four eyes)")
    with db.begin() as conn:
        stmt = select(_P.c.id, _P.c.state, _P.c.version, _P.c.review).where(_P.c.plan_id == plan_id)
        stmt = stmt.where(_P.c.id.in_(line_ids)) if line_ids else stmt.where(_P.c.state == ChangeState.PENDING)
        rows = conn.execute(stmt.with_for_update()).all()
        missing = sorted(set(line_ids or []) - {r.id for r in rows})
        if missing:
            raise ConfigError(f"plan {plan_id} has no line {', '.join(map(str, missing[:20]))}")
        done = [r.id for r in rows if r.state != ChangeState.PENDING]
        if done:
            raise SegbridgeError(f"line(s) {', '.join(map(str, done[:20]))} of plan {plan_id} are no longer pending")
        check_versions("plan line", rows, versions)
        values = {"review": decision, "reviewed_by": actor, "version": _P.c.version + 1, "updated_at": utcnow()}
        if decision == "rejected":
            values.update(state=ChangeState.REJECTED, message=f"rejected in review by {actor}: {reason}")
        ids = [r.id for r in rows]
        for start in range(0, len(ids), 20000):
            conn.execute(_P.update().where(_P.c.id.in_(ids[start:start + 20000])).values(**values))
        if rows:
            now = utcnow()
            conn.execute(_A.insert(), [dict(at=now, actor=actor, action=f"plan_line_{decision}", entity="planned_change",
                                            entity_key=str(r.id), before=r.review, after=decision, reason=reason,
                                            run_id=plan.run_id) for r in rows])
    return len(rows)


def reject_plan(db: Engine, plan_id: int, actor: str, reason: str) -> int:
    """Reject every pending line of a plan (the whole plan), four eyes as for approval."""
    return review_lines(db, plan_id, None, "rejected", actor, reason)


def request_override(db: Engine, entity: str, entity_key: str, name: str, value: str, reason: str,
                     actor: str) -> Override:
    """A planner asks to pin an entity's segment or parameter; inactive until an approver approves it."""
    if not (reason or "").strip():
        raise ConfigError("an override request needs a reason")
    now = utcnow()
    with db.begin() as conn:
        new_id = conn.execute(_O.insert().values(entity=entity, entity_key=entity_key, name=name, value=value,
                                                 reason=reason, requested_by=actor, created_at=now, active=False)
                              ).inserted_primary_key[0]
        conn.execute(_A.insert().values(at=now, actor=actor, action="override_requested", entity="override",
                                        entity_key=str(new_id), after=f"{entity}:{entity_key} {name}={value}",
                                        reason=reason))
    return get_override(db, new_id)


def get_override(db: Engine, override_id: int) -> Override:
    row = row_by_key(db, _O, override_id, ConfigError(f"no override with id {override_id}"))
    return Override.model_validate(dict(row._mapping))


def list_overrides(db: Engine, limit: int = 200) -> list[Override]:
    with db.connect() as conn:
        return [Override.model_validate(dict(r._mapping))
                for r in conn.execute(select(_O).order_by(_O.c.id.desc()).limit(limit))]


def approve_override(db: Engine, override_id: int, actor: str) -> Override:
    """Activate a requested override; never by the one who requested it (four eyes)."""
    ov = get_override(db, override_id)
    if ov.requested_by == actor:
        raise BlockedError(f"override {override_id} was requested by {actor}; approval needs a second person")
    if ov.approved_by:
        raise SegbridgeError(f"override {override_id} was already approved by {ov.approved_by}")
    with db.begin() as conn:
        done = conn.execute(_O.update().where(_O.c.id == override_id, _O.c.approved_by.is_(None))
                            .values(approved_by=actor, active=True)).rowcount
        if done != 1:
            raise SegbridgeError(f"override {override_id} changed while approving; look at it again")
        conn.execute(_A.insert().values(at=utcnow(), actor=actor, action="override_approved", entity="override",
                                        entity_key=str(override_id), reason=ov.reason))
    return get_override(db, override_id)


def previous_segment_run(db: Engine, run_id: int) -> int | None:
    with db.connect() as conn:
        return conn.execute(select(func.max(_R.c.id)).where(_R.c.kind == "segment", _R.c.id < run_id)).scalar()


def run_parameters(db: Engine, run_id: int, key: str | None = None, name: str | None = None, page: int = 1,
                   size: int = 50) -> list[dict]:
    """One page of a run's parameters with the previous segment run's value (old -> new), key order.

    Served by the primary key (run_id, entity, entity_key, name): the first page reads `size` rows."""
    prev_id = previous_segment_run(db, run_id)
    size = max(1, min(int(size), 500))
    old = _V.alias("old")
    stmt = select(_V.c.entity, _V.c.entity_key, _V.c.name, _V.c.value_num, _V.c.value_text,
                  old.c.value_num.label("old_num"), old.c.value_text.label("old_text")).outerjoin(
        old, and_(old.c.run_id == prev_id, old.c.entity == _V.c.entity, old.c.entity_key == _V.c.entity_key,
                  old.c.name == _V.c.name)).where(_V.c.run_id == run_id)
    if key:  # a range, not LIKE, so both databases walk the primary key
        stmt = stmt.where(_V.c.entity_key >= key, _V.c.entity_key < key + "\U0010ffff")
    if name:
        stmt = stmt.where(_V.c.name == name)
    stmt = stmt.order_by(_V.c.entity, _V.c.entity_key, _V.c.name).limit(size).offset((max(1, page) - 1) * size)
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def segment_migration(db: Engine, run_id: int, dimension: str = "segment") -> list[dict]:
    """How many entities moved from each class to each class since the previous segment run."""
    prev_id = previous_segment_run(db, run_id)
    if prev_id is None:
        return []
    old = _G.alias("old")
    n = func.count().label("n")
    stmt = select(old.c.value.label("before"), _G.c.value.label("after"), n).join(
        old, and_(old.c.run_id == prev_id, old.c.entity == _G.c.entity, old.c.entity_key == _G.c.entity_key,
                  old.c.dimension == _G.c.dimension)).where(_G.c.run_id == run_id, _G.c.dimension == dimension)
    stmt = stmt.group_by(old.c.value, _G.c.value).order_by(n.desc())
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def list_plans(db: Engine, status: str | None = None, limit: int = 50) -> list:
    """Plans, newest first (optionally of one status)."""
    from core.model import Plan

    t = Plan.__table__
    stmt = select(t).order_by(t.c.id.desc()).limit(max(1, min(limit, 500)))
    if status:
        stmt = stmt.where(t.c.status == status)
    with db.connect() as conn:
        return [Plan.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def audit_trail(db: Engine, entity: str, key: str, limit: int = 500) -> list[AuditEvent]:
    """The audit events of one record, oldest first."""
    stmt = select(_A).where(_A.c.entity == entity, _A.c.entity_key == key).order_by(_A.c.id).limit(limit)
    with db.connect() as conn:
        return [AuditEvent.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


SERVICE_PARAMETERS = {"service_level": "promised", "achieved_service": "achieved",
                      "achieved_fill_rate": "fill_rate"}


def achieved_service(db: Engine, run_id: int) -> list[dict]:
    """Per product segment of a segment run: the service promised (mean target `service_level`), and
    achieved in the planning-truth replay (mean `achieved_service` and `achieved_fill_rate`, stored by
    `segbridge segment` from core.planning.service_check). The same means as the KPIs
    `service_promised` / `service_achieved_replay`, read straight from the run so they show without
    a KPI computation. One grouped query: the run's parameters are read once."""
    cols = [func.avg(_V.c.value_num).filter(_V.c.name == n).label(label) for n, label in SERVICE_PARAMETERS.items()]
    stmt = select(_G.c.value.label("segment"), func.count(func.distinct(_V.c.entity_key)).label("n"), *cols).join(
        _G, and_(_G.c.run_id == _V.c.run_id, _G.c.entity == _V.c.entity, _G.c.entity_key == _V.c.entity_key,
                 _G.c.dimension == "segment")).where(
        _V.c.run_id == run_id, _V.c.entity == "product_location", _V.c.name.in_(list(SERVICE_PARAMETERS)))
    stmt = stmt.group_by(_G.c.value).order_by(_G.c.value)
    with db.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    for r in rows:
        p, a = r["promised"], r["achieved"]
        r["gap"] = a - p if p is not None and a is not None else None
    return rows


def plan_line_of(db: Engine, exception, page_size: int = 200) -> tuple[int, int, int] | None:
    """(plan id, line id, page of the plan's lines holding it) of the newest plan line an exception
    is about, or None. A write-back
    conflict (core.writeback.held_check) is filed with the line's system, target entity, target key
    and field, so those four find it; other kinds of exception match a line the same way when a plan
    wrote that very field."""
    if not (exception.system and exception.entity and exception.entity_key and exception.field):
        return None
    stmt = select(_P.c.plan_id, _P.c.id).where(
        _P.c.system == exception.system, _P.c.entity == exception.entity, _P.c.target_key == exception.entity_key,
        _P.c.field == exception.field).order_by(_P.c.plan_id.desc(), _P.c.id.desc()).limit(1)
    with db.connect() as conn:
        row = conn.execute(stmt).first()
        if row is None:
            return None
        before = conn.execute(select(func.count()).select_from(_P).where(_P.c.plan_id == row[0], _P.c.id < row[1]))
        return int(row[0]), int(row[1]), before.scalar_one() // page_size + 1


SERVICE_KPIS = {"service_promised": "promised", "service_achieved_replay": "achieved",
                "fill_rate_achieved_replay": "fill_rate"}


def service_per_segment(db: Engine, run_id: int) -> tuple[list[dict], str]:
    """(rows as `achieved_service`, where from): the run's stored KPIs when computed (a few rows,
    instant), else the run's parameters (`achieved_service`: one pass over the run's parameters,
    about 0.25 s per 500,000 rows on SQLite)."""
    from core.kpis.kpi_store import read_kpis

    k = read_kpis(db, run_id, period="all")
    k = k[k["kpi"].isin(list(SERVICE_KPIS)) & (k["scope"] == "")]
    if k.empty:
        return achieved_service(db, run_id), "parameters"
    wide = k.pivot_table(index="segment", columns="kpi", values="value", aggfunc="first")
    size = k[k["kpi"] == "service_promised"].set_index("segment")["denominator"]
    rows = []
    for seg in sorted(wide.index):
        r = {"segment": seg, "n": int(size.get(seg, 0) or 0)}
        for kpi, label in SERVICE_KPIS.items():
            v = wide.loc[seg, kpi] if kpi in wide.columns else None
            r[label] = None if v is None or v != v else float(v)
        r["gap"] = r["achieved"] - r["promised"] if r["promised"] is not None and r["achieved"] is not None else None
        rows.append(r)
    return rows, "kpis"
