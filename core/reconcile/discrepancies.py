"""Exceptions for data stewards: one record per difference across runs, with a status lifecycle.

A difference is identified by its fingerprint (kind + system + entity + key + field), so the
same difference seen by many runs stays one `ReconException` whose `first_seen`, `last_seen`
and `count` tell its history. Rules when a run observes a difference again:

* open / acknowledged: stays so; last_seen, count, expected and actual are refreshed;
* resolved: it recurred, so it reopens (status open, an `exception_reopened` audit event);
* waived: stays waived (a steward decided this difference is accepted) and only counts.

A rerun after a killed reconcile (SIGKILL between filing and finishing its run) counts each
difference once: a row whose last observing run died (`core.runs.dead_run_ids`: interrupted, or
still `running` with a dead owner) has that run's observation replaced, not added to (`count`
stays; a row the dead run inserted counts as new in the rerun). Matching is by fingerprint, the
natural key (unique in the table), so nothing is ever inserted twice.

Auto-resolve: an open or acknowledged exception of a reconcile scope that a later run of the
same scope no longer observes is resolved by `segbridge` with the reason "no longer observed
in run N" (set `reconcile.auto_resolve: false` to leave that to stewards). Fingerprints are
prefixed `rc:` so exceptions filed by others (the crosswalk's `xw:` conflicts) are never
auto-resolved by reconciliation.

Status changes by people: open -> acknowledged -> resolved | waived (open may go straight to
resolved or waived); resolve and waive need a reason; each change is an `AuditEvent`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from basics.errors import ConfigError, StaleError
from basics.users import actor_or_current
from core.model import AuditEvent, ReconException, utcnow
from core.runs import dead_run_ids
from core.statuses import REMAINING, ExceptionStatus
from core.store import row_by_key

PREFIX = "rc:"
_S = ExceptionStatus
ALLOWED = {  # the steward lifecycle: which status each may become
    _S.OPEN: {_S.ACKNOWLEDGED, _S.RESOLVED, _S.WAIVED},
    _S.ACKNOWLEDGED: {_S.RESOLVED, _S.WAIVED, _S.OPEN},
    _S.RESOLVED: {_S.OPEN},
    _S.WAIVED: {_S.OPEN},
}
NEEDS_REASON = {_S.RESOLVED, _S.WAIVED}
_T = ReconException.__table__
_A = AuditEvent.__table__


@dataclass
class Observation:
    """One difference a reconcile check found."""

    kind: str
    system: str | None
    entity: str | None
    entity_key: str | None
    field: str | None
    expected: str | None = None
    actual: str | None = None
    severity: str = "medium"
    owner: str | None = None
    reason: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.kind, self.system, self.entity, self.entity_key, self.field)


@dataclass
class UpsertResult:
    new: list[int]
    recurring: list[int]
    reopened: list[int]
    auto_resolved: list[int]


def fingerprint(kind: str, system: str | None, entity: str | None, key: str | None, field: str | None) -> str:
    """Stable id of a difference: the same difference in every run has the same fingerprint."""
    raw = "\x1f".join(str(p or "") for p in (kind, system, entity, key, field))
    return PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:48]


def _clip(value: str | None, n: int = 400) -> str | None:
    return None if value is None else str(value)[:n]


def _audit(conn: Connection, exc_id: int, action: str, before: str | None, after: str | None,
           reason: str | None, actor: str, run_id: int | None = None, at: datetime | None = None) -> None:
    conn.execute(_A.insert().values(at=at or utcnow(), actor=actor, action=action, entity="recon_exception",
                                    entity_key=str(exc_id), before=before, after=after, reason=reason,
                                    run_id=run_id))


def upsert_observations(db: Engine, observations: list[Observation], run_id: int | None,
                        scope_systems: list[str] | None = None, scope_kinds: list[str] | None = None,
                        auto_resolve: bool = True) -> UpsertResult:
    """File a run's observations in one transaction; optionally auto-resolve what was not seen again.

    The auto-resolve scope is the kinds this run checked (`scope_kinds`) in the systems it
    checked (`scope_systems`, None = all), so reconciling only SAP never resolves CRM exceptions.
    """
    now = utcnow()
    by_print: dict[str, Observation] = {o.fingerprint: o for o in observations}
    res = UpsertResult([], [], [], [])
    with db.begin() as conn:
        existing = _existing(conn, list(by_print))
        dead = dead_run_ids(conn, [r["run_id"] for r in existing.values() if r["run_id"] not in (None, run_id)])
        for fp, obs in by_print.items():
            row = existing.get(fp)
            if row is None:
                res.new.append(_insert(conn, fp, obs, run_id, now))
            elif row["run_id"] in dead:
                _adopt(conn, row, obs, run_id, now, res)
            else:
                _touch(conn, row, obs, run_id, now, res)
        if auto_resolve:
            res.auto_resolved = _auto_resolve(conn, set(by_print), run_id, now, scope_systems, scope_kinds)
    return res


def _existing(conn: Connection, prints: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for start in range(0, len(prints), 500):
        chunk = prints[start:start + 500]
        for row in conn.execute(select(_T.c.id, _T.c.fingerprint, _T.c.status, _T.c.count, _T.c.run_id)
                                .where(_T.c.fingerprint.in_(chunk))):
            out[row.fingerprint] = dict(row._mapping)
    return out


def _insert(conn: Connection, fp: str, obs: Observation, run_id: int | None, now: datetime) -> int:
    result = conn.execute(_T.insert().values(
        fingerprint=fp, kind=obs.kind, severity=obs.severity, system=obs.system, entity=obs.entity,
        entity_key=_clip(obs.entity_key), field=obs.field, expected=_clip(obs.expected), actual=_clip(obs.actual),
        owner=obs.owner, status=ExceptionStatus.OPEN, reason=obs.reason, first_seen=now, last_seen=now, count=1, run_id=run_id))
    return int(result.inserted_primary_key[0])


def _touch(conn: Connection, row: dict, obs: Observation, run_id: int | None, now: datetime,
           res: UpsertResult) -> None:
    values = {"last_seen": now, "count": _T.c.count + 1, "run_id": run_id, "expected": _clip(obs.expected),
              "actual": _clip(obs.actual), "severity": obs.severity}
    if obs.owner:
        values["owner"] = obs.owner
    if row["status"] == ExceptionStatus.RESOLVED:
        values.update(status=ExceptionStatus.OPEN, reason=None)
        _audit(conn, row["id"], "exception_reopened", ExceptionStatus.RESOLVED, ExceptionStatus.OPEN,
               "observed again", "segbridge", run_id, now)
        res.reopened.append(row["id"])
    else:
        res.recurring.append(row["id"])
    conn.execute(_T.update().where(_T.c.id == row["id"]).values(**values))


def _adopt(conn: Connection, row: dict, obs: Observation, run_id: int | None, now: datetime,
           res: UpsertResult) -> None:
    """The row was last filed by a run that died (killed reconcile): this rerun's observation
    replaces that run's, so `count` is not raised again; a row that run inserted is new here."""
    values = {"last_seen": now, "run_id": run_id, "expected": _clip(obs.expected), "actual": _clip(obs.actual),
              "severity": obs.severity}
    if obs.owner:
        values["owner"] = obs.owner
    if row["count"] == 1 and row["status"] == ExceptionStatus.OPEN:
        values["first_seen"] = now
        res.new.append(row["id"])
    else:
        res.recurring.append(row["id"])
    conn.execute(_T.update().where(_T.c.id == row["id"]).values(**values))


def _auto_resolve(conn: Connection, seen: set[str], run_id: int | None, now: datetime,
                  systems: list[str] | None, kinds: list[str] | None) -> list[int]:
    stmt = select(_T.c.id, _T.c.fingerprint, _T.c.status).where(
        _T.c.status.in_(sorted(REMAINING)), _T.c.fingerprint.like(PREFIX + "%"))
    if systems is not None:
        stmt = stmt.where(_T.c.system.in_(systems))
    if kinds is not None:
        stmt = stmt.where(_T.c.kind.in_(kinds))
    gone = [r for r in conn.execute(stmt) if r.fingerprint not in seen]
    reason = f"no longer observed in run {run_id}"
    for row in gone:
        conn.execute(_T.update().where(_T.c.id == row.id).values(status=ExceptionStatus.RESOLVED, reason=reason))
        _audit(conn, row.id, "exception_resolved", row.status, ExceptionStatus.RESOLVED, reason, "segbridge",
               run_id, now)
    return [r.id for r in gone]


def get_exception(db: Engine, exc_id: int) -> ReconException:
    """One exception by id (ConfigError naming the id when there is none)."""
    row = row_by_key(db, _T, exc_id, ConfigError(f"no exception with id {exc_id}",
                                                 hint="see `segbridge exceptions list`"))
    return ReconException.model_validate(dict(row._mapping))


def transition(db: Engine, exc_id: int, status: str, reason: str | None = None,
               actor: str | None = None) -> ReconException:
    """Move an exception to `status` (acknowledged, resolved, waived, open), recording an AuditEvent."""
    transition_many(db, [exc_id], status, reason=reason, actor=actor)
    return get_exception(db, exc_id)


def transition_many(db: Engine, exc_ids: list[int], status: str, reason: str | None = None,
                    actor: str | None = None, check_only: bool = False,
                    versions: dict[int, int] | None = None) -> int:
    """Move every one of these exceptions to `status` in one transaction, one AuditEvent each; returns
    how many moved. All or none: an unknown id, or one whose status cannot become `status`, refuses
    the lot (ConfigError naming them), so a bulk action never half happens. `actor` defaults to the
    OS user (`basics.users`). `check_only` refuses as above but changes nothing (to ask before acting).
    `versions` (id -> the version the caller saw) refuses the lot with StaleError when any row changed
    since: two stewards never overwrite each other. Every move raises the row's version."""
    status = _target(status, reason)
    actor = actor_or_current(actor)
    ids = sorted({int(i) for i in exc_ids})
    with db.begin() as conn:
        rows = []
        for start in range(0, len(ids), 20000):  # below every driver's bound-parameter limit
            chunk = ids[start:start + 20000]
            rows += conn.execute(select(_T.c.id, _T.c.status, _T.c.version).where(_T.c.id.in_(chunk))
                                 .with_for_update()).all()
        _check_moves(ids, rows, status)
        check_versions("exception", rows, versions)
        if check_only:
            return len(rows)
        values = {"status": status, "version": _T.c.version + 1}
        if reason is not None or status in NEEDS_REASON:
            values["reason"] = reason
        for start in range(0, len(ids), 20000):
            conn.execute(_T.update().where(_T.c.id.in_(ids[start:start + 20000])).values(**values))
        now = utcnow()
        if rows:
            conn.execute(_A.insert(), [dict(at=now, actor=actor, action=f"exception_{status}", entity="recon_exception",
                                            entity_key=str(r.id), before=r.status, after=status, reason=reason,
                                            run_id=None) for r in rows])
    return len(rows)


def check_versions(what: str, rows: list, versions: dict[int, int] | None) -> None:
    """StaleError naming the rows whose version is not the one the caller saw."""
    if versions is None:
        return
    stale = [r for r in rows if int(versions.get(r.id, r.version)) != r.version]
    if stale:
        listed = ", ".join(f"{r.id} (now version {r.version}, you saw {versions[r.id]})" for r in stale[:10])
        raise StaleError(f"{len(stale)} {what}(s) changed since you loaded them: {listed}",
                         hint="reload the page and look again; nothing was changed")


def _target(status: str, reason: str | None) -> ExceptionStatus:
    if status not in set(ExceptionStatus):
        raise ConfigError(f"unknown status {status!r}", hint=f"one of: {', '.join(ExceptionStatus)}")
    status = ExceptionStatus(status)
    if status in NEEDS_REASON and not (reason or "").strip():
        raise ConfigError(f"a reason is required to mark an exception {status}", hint="pass --reason '...'")
    return status


def _check_moves(ids: list[int], rows: list, status: ExceptionStatus) -> None:
    """ConfigError for ids that do not exist or cannot become `status` from where they stand."""
    missing = sorted(set(ids) - {r.id for r in rows})
    if missing:
        raise ConfigError(f"no exception with id {', '.join(map(str, missing))}",
                          hint="see `segbridge exceptions list`")
    stuck = [r for r in rows if status not in ALLOWED[ExceptionStatus(r.status)]]
    if len(stuck) == 1:
        allowed = ", ".join(sorted(ALLOWED[ExceptionStatus(stuck[0].status)]))
        raise ConfigError(f"exception {stuck[0].id} is {stuck[0].status}; it cannot become {status}",
                          hint=f"from {stuck[0].status} it can become: {allowed}")
    if stuck:
        listed = ", ".join(f"{r.id} ({r.status})" for r in stuck)
        raise ConfigError(f"{len(stuck)} exception(s) cannot become {status}: {listed}",
                          hint="leave them out, or filter by --status")


def can_become(status: str) -> list[str]:
    """The statuses from which an exception may move to `status` (the default filter of bulk actions)."""
    return sorted(s.value for s, allowed in ALLOWED.items() if ExceptionStatus(status) in allowed)


def history(db: Engine, exc_id: int) -> list[AuditEvent]:
    """The audit trail of one exception, oldest first."""
    stmt = select(_A).where(_A.c.entity == "recon_exception", _A.c.entity_key == str(exc_id)).order_by(_A.c.id)
    with db.connect() as conn:
        return [AuditEvent.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]


def list_exceptions(db: Engine, status: list[str] | None = None, system: list[str] | None = None,
                    kind: list[str] | None = None, severity: list[str] | None = None,
                    limit: int | None = None, ids: list[int] | None = None) -> list[ReconException]:
    """Exceptions matching every given filter, most recently seen first."""
    stmt = select(_T)
    if ids:
        stmt = stmt.where(_T.c.id.in_([int(i) for i in ids]))
    for col, values in ((_T.c.status, status), (_T.c.system, system), (_T.c.kind, kind), (_T.c.severity, severity)):
        if values:
            stmt = stmt.where(col.in_(values))
    stmt = stmt.order_by(_T.c.last_seen.desc(), _T.c.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    with db.connect() as conn:
        return [ReconException.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]
