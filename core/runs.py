"""Run history: every run of a step, manual or scheduled, with its outcome and counts.

This module is the ONE writer of the `run` table (tests/unit/core/test_runs.py holds
every other module to that): the rules of a run's life are kept in one place. A run is started
(`RunStatus.RUNNING`), then finished with a final status (`RunStatus.FINISHED`) and counts. A
trigger that could not run because another process held the step's lease is recorded as a
`skipped` run, so the history accounts for every trigger. Counts are a JSON object; the standard
keys are COUNT_KEYS, any other integer key (or per-entity block of them) is kept too.

Every writer takes a `bind`: an Engine (its own transaction) or a Connection (the caller's
transaction, when the run row must commit together with what the run produced, as a segment
run's assignments do).

Each run records its process (`owner`, host:pid:uuid, as leases do). A process that dies cannot
finish its runs; `mark_interrupted` (called whenever a command opens the store) marks them
`interrupted`, and `dead_run_ids` tells reconciliation which earlier run's observations to
replace rather than add to.

Every start and end is also logged at INFO on the `segbridge.runs` logger with structured extras
(`event` run_started / run_finished, `run_id`, `kind`, `system`, `trigger`, `status`, `counts`), so
`--json-logs` gives a machine a line per run start and end with its counts.

Example:
    >>> run_id = start_run(db, "pull", system="sap", trigger="schedule")   # doctest: +SKIP
    >>> finish_run(db, run_id, "ok", counts={"read": 120, "loaded": 118, "quarantined": 2})
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from basics.errors import ConfigError
from core.lease import default_owner, live_owners, owner_dead, parse_owner
from core.model import Lease, Run, utcnow
from core.statuses import FINISHED, RunKind, RunStatus, Trigger
from core.store import row_by_key

log = logging.getLogger("segbridge.runs")
COUNT_KEYS = ("read", "loaded", "quarantined", "changes", "applied", "rejected", "exceptions")
_TABLE = Run.__table__
_E = TypeVar("_E", bound=StrEnum)


@dataclass
class RunInfo:
    """A run as the history shows it (counts parsed)."""

    id: int
    kind: str
    system: str | None
    status: RunStatus
    trigger: Trigger
    started_at: datetime
    finished_at: datetime | None
    ruleset_hash: str | None
    parent_run_id: int | None
    message: str | None
    counts: dict[str, int] = field(default_factory=dict)
    suspect: bool = False
    owner: str | None = None

    @property
    def seconds(self) -> float | None:
        """Duration, or None while running."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None


def normalise_counts(counts: dict[str, Any] | None) -> dict[str, Any]:
    """Standard keys first, every value an int or a per-entity block of ints (bad values fail early)."""
    out: dict[str, Any] = {}
    for key, value in (counts or {}).items():
        if isinstance(value, dict):  # per-entity block, e.g. a pull's {"products": {"read": 5}}
            out[str(key)] = normalise_counts(value)
            continue
        try:
            out[str(key)] = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"run count {key!r} must be a whole number, got {value!r}") from None
    ordered = {k: out.pop(k) for k in COUNT_KEYS if k in out}
    return {**ordered, **dict(sorted(out.items()))}


def totals(counts: dict[str, Any]) -> dict[str, int]:
    """Flat counts: per-entity blocks (a pull's {"products": {"read": 5}}) summed into the standard keys."""
    flat: dict[str, int] = {}
    for key, value in counts.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for name, number in items:
            if isinstance(number, int | float) and not isinstance(number, bool):
                flat[name] = flat.get(name, 0) + int(number)
    ordered = {k: flat.pop(k) for k in COUNT_KEYS if k in flat}
    return {**ordered, **flat}


def _check(value: str, enum: type[_E], what: str) -> _E:
    """The enum member for `value`, or a ConfigError listing the allowed values."""
    try:
        return enum(value)
    except ValueError:
        raise ConfigError(f"unknown run {what} {value!r}", hint=f"one of: {', '.join(enum)}") from None


@contextmanager
def _begun(bind: Engine | Connection) -> Iterator[Connection]:
    """The caller's connection as it is, or a fresh transaction on an engine."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.begin() as conn:
        yield conn


def _insert(bind: Engine | Connection, values: dict[str, Any]) -> int:
    with _begun(bind) as conn:
        return int(conn.execute(insert(_TABLE).values(**values).returning(_TABLE.c.id)).scalar_one())


def _update(bind: Engine | Connection, run_id: int, values: dict[str, Any]) -> Any:
    """Set columns of one run; returns its kind, system, trigger and counts; a clear error when the id is unknown."""
    with _begun(bind) as conn:
        stmt = (update(_TABLE).where(_TABLE.c.id == run_id).values(**values)
                .returning(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.system, _TABLE.c.trigger, _TABLE.c.counts))
        row = conn.execute(stmt).first()
        if row is None:
            raise ConfigError(f"run {run_id} does not exist", hint="`segbridge runs list` shows the runs")
        return row


def start_run(bind: Engine | Connection, kind: str, *, system: str | None = None, trigger: str = Trigger.MANUAL,
              ruleset_hash: str | None = None, parent_run_id: int | None = None,
              message: str | None = None) -> int:
    """Record a run as started; returns its id."""
    run_id = _insert(bind, dict(kind=str(kind), system=system, status=RunStatus.RUNNING,
                                trigger=_check(trigger, Trigger, "trigger"), started_at=utcnow(),
                                ruleset_hash=ruleset_hash, parent_run_id=parent_run_id, message=message,
                                owner=default_owner()[:80]))
    _log_event("run_started", run_id, kind=str(kind), system=system, trigger=str(trigger), status=RunStatus.RUNNING)
    return run_id


def _log_event(event: str, run_id: int, **extra: Any) -> None:
    """One INFO line on `segbridge.runs` with structured extras (what `--json-logs` prints as fields);
    the text stays short for the console (`-v`), the counts travel as a field."""
    fields = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in extra.items()}
    where = ", ".join(str(fields[k]) for k in ("kind", "system") if fields.get(k))
    verb = "started" if event == "run_started" else f"finished: {fields.get('status')}"
    log.info("run %s (%s) %s", run_id, where, verb, extra={"event": event, "run_id": run_id, **fields})


def finish_run(bind: Engine | Connection, run_id: int, status: str, *, counts: dict[str, Any] | None = None,
               message: str | None = None, ruleset_hash: str | None = None) -> None:
    """Record a run's end, status and counts (the rule-set version if known only now).

    A message of None keeps the one the run has (a quality check may have explained why it is suspect).
    """
    final = _check(status, RunStatus, "status")
    if final not in FINISHED | {RunStatus.SKIPPED}:
        raise ConfigError(f"a run cannot finish as {final.value!r}", hint=f"one of: {', '.join(sorted(FINISHED))}")
    values: dict[str, Any] = dict(status=final, finished_at=utcnow())
    if message is not None:
        values["message"] = message
    if counts is not None:
        values["counts"] = json.dumps(normalise_counts(counts))
    if ruleset_hash is not None:
        values["ruleset_hash"] = ruleset_hash
    row = _update(bind, run_id, values)
    _log_event("run_finished", run_id, kind=row.kind, system=row.system, trigger=row.trigger, status=final,
               counts=json.loads(row.counts) if row.counts else {})


def record_skipped(bind: Engine | Connection, kind: str, *, system: str | None = None,
                   trigger: str = Trigger.SCHEDULE, message: str) -> int:
    """A trigger that did not run (lease held elsewhere, dependency not met): one finished row."""
    now = utcnow()
    run_id = _insert(bind, dict(kind=str(kind), system=system, status=RunStatus.SKIPPED,
                                trigger=_check(trigger, Trigger, "trigger"), started_at=now, finished_at=now,
                                message=message, owner=default_owner()[:80]))
    _log_event("run_finished", run_id, kind=str(kind), system=system, trigger=str(trigger),
               status=RunStatus.SKIPPED, counts={})
    return run_id


@contextmanager
def recorded_run(db: Engine, kind: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Start a run, let the block fill `outcome` (status, counts, message), finish it; failed on error."""
    run_id = start_run(db, kind, **kwargs)
    outcome: dict[str, Any] = {"run_id": run_id, "status": RunStatus.OK, "counts": {}, "message": None}
    try:
        yield outcome
    except BaseException as exc:
        finish_run(db, run_id, RunStatus.FAILED, counts=outcome["counts"],
                   message=f"{type(exc).__name__}: {exc}")
        raise
    finish_run(db, run_id, outcome["status"], counts=outcome["counts"], message=outcome["message"])


def mark_suspect(bind: Engine | Connection, run_id: int, detail: str) -> None:
    """The run crossed a data-quality threshold: suspect (any earlier release undone), `detail` says why."""
    _update(bind, run_id, dict(suspect=True, released_by=None, release_reason=None, message=detail))


def mark_released(bind: Engine | Connection, run_id: int, by: str, reason: str) -> None:
    """A steward released the suspect run for write-back (`core.quality.release_run` audits it)."""
    _update(bind, run_id, dict(released_by=by, release_reason=reason))


def _info(row: Any) -> RunInfo:
    return RunInfo(id=row.id, kind=row.kind, system=row.system, status=RunStatus(row.status), trigger=Trigger(row.trigger),
                   started_at=row.started_at, finished_at=row.finished_at, ruleset_hash=row.ruleset_hash,
                   parent_run_id=row.parent_run_id, message=row.message,
                   counts=json.loads(row.counts) if row.counts else {}, suspect=bool(row.suspect),
                   owner=row.owner)


def list_runs(db: Engine, *, kind: str | None = None, status: str | None = None, system: str | None = None,
              since: datetime | None = None, limit: int | None = 50) -> list[RunInfo]:
    """Newest first, filtered."""
    stmt = select(_TABLE).order_by(_TABLE.c.id.desc())
    if kind:
        stmt = stmt.where(_TABLE.c.kind == kind)
    if status:
        stmt = stmt.where(_TABLE.c.status == _check(status, RunStatus, "status"))
    if system:
        stmt = stmt.where(_TABLE.c.system == system)
    if since is not None:
        stmt = stmt.where(_TABLE.c.started_at >= since)
    if limit:
        stmt = stmt.limit(limit)
    with db.connect() as conn:
        return [_info(r) for r in conn.execute(stmt)]


def get_run(db: Engine, run_id: int) -> RunInfo:
    """One run; a clear error when the id is unknown."""
    row = row_by_key(db, _TABLE, run_id, ConfigError(f"run {run_id} does not exist",
                                                     hint="`segbridge runs list` shows the runs"))
    return _info(row)


def last_run(db: Engine, kind: str, system: str | None = None, *, include_skipped: bool = False) -> RunInfo | None:
    """The newest run of a step (skipped triggers left out unless asked), or None."""
    stmt = select(_TABLE).where(_TABLE.c.kind == kind).order_by(_TABLE.c.id.desc()).limit(1)
    if system is not None:
        stmt = stmt.where(_TABLE.c.system == system)
    if not include_skipped:
        stmt = stmt.where(_TABLE.c.status != RunStatus.SKIPPED)
    with db.connect() as conn:
        row = conn.execute(stmt).first()
    return _info(row) if row else None


def fail_dangling(db: Engine, kind: str, system: str | None, since: datetime, message: str) -> list[int]:
    """Mark runs of a step still `running` since `since` as failed (a step died without finishing them).

    Safe only while holding the step's lease: then no other process can be running that step.
    """
    cond = [_TABLE.c.kind == kind, _TABLE.c.status == RunStatus.RUNNING, _TABLE.c.started_at >= since]
    if system is not None:
        cond.append(_TABLE.c.system == system)
    with db.begin() as conn:
        ids = [r.id for r in conn.execute(select(_TABLE.c.id).where(*cond))]
        if ids:
            conn.execute(update(_TABLE).where(_TABLE.c.id.in_(ids))
                         .values(status=RunStatus.FAILED, finished_at=utcnow(), message=message))
    return ids


LEASED_KINDS = frozenset({RunKind.PULL, RunKind.APPLY})  # their runs exist only while a lease of their owner does


def _is_dead(row: Any, live: set[str]) -> bool:
    """A `running` row whose process is gone: a dead process of this host (`owner_dead`), or, for
    another host, a pull/apply whose owner holds no live lease (those runs only exist under their
    lease; other kinds of another host are left alone: a CLI segment holds no lease).
    Runs without an owner (recorded before run.owner existed) and this process's runs are alive."""
    if not row.owner or row.owner == default_owner()[:80]:
        return False
    parsed = parse_owner(row.owner)
    if parsed is not None and parsed[0] == default_owner().split(":", 1)[0]:  # this host: ask the OS
        return owner_dead(row.owner, row.started_at)
    return row.kind in LEASED_KINDS and row.owner not in live


def mark_interrupted(db: Engine, by: str) -> list[int]:
    """Mark every run still `running` whose process died as `interrupted`; returns their ids.

    Called once whenever a command opens the store (segbridge.commands.common.store_of), so a
    killed pull, apply or reconcile shows as interrupted in `segbridge runs` instead of running
    for good. The message names the dead process and who found it.
    """
    with db.connect() as conn:
        rows = conn.execute(select(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.owner, _TABLE.c.started_at)
                            .where(_TABLE.c.status == RunStatus.RUNNING)).all()
    if not rows:
        return []
    live = live_owners(db)
    done = []
    for row in rows:
        if not _is_dead(row, live):
            continue
        host_pid = ":".join(row.owner.split(":")[:2])
        message = f"process {host_pid} died; marked interrupted by {by} at {utcnow():%Y-%m-%d %H:%M:%S} UTC"
        stmt = (update(_TABLE).where(_TABLE.c.id == row.id, _TABLE.c.status == RunStatus.RUNNING)
                .values(status=RunStatus.INTERRUPTED, finished_at=utcnow(), message=message))
        with db.begin() as conn:
            if conn.execute(stmt).rowcount:
                done.append(row.id)
    return done


def dead_run_ids(bind: Engine | Connection, run_ids: list[int]) -> set[int]:
    """Which of these runs died without finishing: `interrupted`, or `running` with a dead owner."""
    ids = sorted({int(i) for i in run_ids if i is not None})
    if not ids:
        return set()
    with _begun(bind) as conn:
        rows = conn.execute(select(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.owner, _TABLE.c.started_at,
                                   _TABLE.c.status)
                            .where(_TABLE.c.id.in_(ids), _TABLE.c.status.in_([RunStatus.RUNNING,
                                                                              RunStatus.INTERRUPTED]))).all()
        live = {r.owner for r in conn.execute(select(Lease.__table__.c.owner)
                                              .where(Lease.__table__.c.expires_at >= utcnow()))}
    return {r.id for r in rows if r.status == RunStatus.INTERRUPTED or _is_dead(r, live)}
