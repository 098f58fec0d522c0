"""The stewards' queue: exceptions filtered and paged, assignment, comments, SLA due dates and bulk actions.

Status changes go through `core.reconcile.transition_many` (the CLI's function: all or none, one
audit event each); this module adds what the web app and API need around it: the queue query (a
page at a time, served by the `ix_exception_*queue` indexes), assignment and comments (audited,
version-checked like status changes) and the selection of a bulk action by filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine

from basics.errors import ConfigError
from core.model import AuditEvent, ExceptionComment, ReconException, utcnow
from core.reconcile import can_become, get_exception, transition_many
from core.reconcile.discrepancies import check_versions

_T = ReconException.__table__
_C = ExceptionComment.__table__
_A = AuditEvent.__table__
SLA_DAYS = {"critical": 1, "high": 3, "medium": 7, "low": 14}
"""Days from first seen to the due date, by severity."""
SORTS = {"last_seen": (_T.c.last_seen.desc(), _T.c.id.desc()), "first_seen": (_T.c.first_seen, _T.c.id),
         "severity": (_T.c.severity, _T.c.id.desc()), "id": (_T.c.id,)}
MAX_BULK = 100_000
COUNT_CAP = 10_000


@dataclass
class QueueFilter:
    """Which exceptions to show or act on (empty lists: any)."""

    status: list[str] = field(default_factory=list)
    system: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)
    key: str | None = None  # entity key starts with this
    older_than_days: int | None = None  # first seen at least this many days ago

    def any(self) -> bool:
        return any([self.status, self.system, self.kind, self.severity, self.owner, self.key,
                    self.older_than_days is not None])


def _where(stmt, f: QueueFilter, now: datetime | None = None):
    for col, values in ((_T.c.status, f.status), (_T.c.system, f.system), (_T.c.kind, f.kind),
                        (_T.c.severity, f.severity), (_T.c.owner, f.owner)):
        if values:
            stmt = stmt.where(col.in_(values))
    if f.key:
        escaped = f.key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(_T.c.entity_key.like(escaped + "%", escape="\\"))
    if f.older_than_days is not None:
        stmt = stmt.where(_T.c.first_seen <= (now or utcnow()) - timedelta(days=f.older_than_days))
    return stmt


def due_at(first_seen: datetime, severity: str) -> datetime:
    return first_seen + timedelta(days=SLA_DAYS.get(severity, SLA_DAYS["medium"]))


def aging(first_seen: datetime, severity: str, status: str, now: datetime | None = None) -> str:
    """A badge: 'overdue', 'due soon' (within a day) or 'on time'; 'closed' once resolved or waived."""
    if status not in ("open", "acknowledged"):
        return "closed"
    now = now or utcnow()
    first = first_seen if first_seen.tzinfo else first_seen.replace(tzinfo=now.tzinfo)
    due = due_at(first, severity)
    return "overdue" if due < now else "due soon" if due - now < timedelta(days=1) else "on time"


def queue(db: Engine, f: QueueFilter, page: int = 1, size: int = 50, sort: str = "last_seen",
          count: bool = True) -> tuple[list[ReconException], int | None]:
    """One page of the queue and (when `count`) how many match, up to COUNT_CAP + 1 (more than the cap)."""
    if sort not in SORTS:
        raise ConfigError(f"unknown sort {sort!r}", hint=f"one of: {', '.join(SORTS)}")
    size = max(1, min(int(size), 500))
    stmt = _where(select(_T), f).order_by(*SORTS[sort]).limit(size).offset((max(1, int(page)) - 1) * size)
    with db.connect() as conn:
        rows = [ReconException.model_validate(dict(r._mapping)) for r in conn.execute(stmt)]
        total = None
        if count:  # counted up to COUNT_CAP: the queue says "10000+" rather than scan every match
            capped = _where(select(_T.c.id), f).limit(COUNT_CAP + 1).subquery()
            total = conn.execute(select(func.count()).select_from(capped)).scalar_one()
    return rows, total


def chosen_ids(db: Engine, ids: list[int] | None, f: QueueFilter, status: str | None = None) -> list[int]:
    """The exceptions a bulk action touches: the named ids, or every one matching the filter (for a
    status change, by default only those whose status can become `status`, as the CLI does)."""
    if ids:
        return sorted({int(i) for i in ids})
    if not f.any():
        raise ConfigError("name the exceptions: give ids or at least one filter")
    if status and not f.status:
        f = QueueFilter(**{**f.__dict__, "status": can_become(status)})
    with db.connect() as conn:
        found = [r.id for r in conn.execute(_where(select(_T.c.id), f).order_by(_T.c.id).limit(MAX_BULK + 1))]
    if len(found) > MAX_BULK:
        raise ConfigError(f"more than {MAX_BULK} exceptions match", hint="narrow the filter")
    return found


def move(db: Engine, ids: list[int], status: str, reason: str | None, actor: str,
         versions: dict[int, int] | None = None) -> int:
    """A status change by a person: the CLI's `transition_many`, version-checked."""
    return transition_many(db, ids, status, reason=reason, actor=actor, versions=versions)


def assign(db: Engine, ids: list[int], owner: str | None, actor: str,
           versions: dict[int, int] | None = None) -> int:
    """Give exceptions to `owner` (None: unassign), all or none, one audit event each."""
    owner = (owner or "").strip() or None
    if owner and len(owner) > 80:
        raise ConfigError("an owner name has at most 80 characters")
    ids = sorted({int(i) for i in ids})
    with db.begin() as conn:
        rows = conn.execute(select(_T.c.id, _T.c.owner, _T.c.version).where(_T.c.id.in_(ids)).with_for_update()).all()
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise ConfigError(f"no exception with id {', '.join(map(str, missing[:20]))}")
        check_versions("exception", rows, versions)
        conn.execute(_T.update().where(_T.c.id.in_(ids)).values(owner=owner, version=_T.c.version + 1))
        now = utcnow()
        if rows:
            conn.execute(_A.insert(), [dict(at=now, actor=actor, action="exception_assigned", entity="recon_exception",
                                            entity_key=str(r.id), before=r.owner, after=owner, reason=None,
                                            run_id=None) for r in rows])
    return len(rows)


def add_comment(db: Engine, exc_id: int, text: str, actor: str) -> ExceptionComment:
    """A note on an exception (audited). Comments do not change the exception, so no version check."""
    text = (text or "").strip()
    if not text:
        raise ConfigError("a comment needs text")
    get_exception(db, exc_id)
    now = utcnow()
    with db.begin() as conn:
        new_id = conn.execute(_C.insert().values(exception_id=exc_id, at=now, author=actor, text=text[:10000]))\
            .inserted_primary_key[0]
        conn.execute(_A.insert().values(at=now, actor=actor, action="exception_commented", entity="recon_exception",
                                        entity_key=str(exc_id), reason=text[:500]))
    return ExceptionComment(id=new_id, exception_id=exc_id, at=now, author=actor, text=text[:10000])


def comments(db: Engine, exc_id: int) -> list[ExceptionComment]:
    with db.connect() as conn:
        rows = conn.execute(select(_C).where(_C.c.exception_id == exc_id).order_by(_C.c.id))
        return [ExceptionComment.model_validate(dict(r._mapping)) for r in rows]


def open_by_age(db: Engine, now: datetime | None = None) -> dict[str, int]:
    """Open and acknowledged exceptions by age bucket (home page), counted in one pass."""
    now = now or utcnow()
    buckets = {"< 1 day": 1, "1-7 days": 7, "7-30 days": 30}
    age = case(*[(_T.c.first_seen > now - timedelta(days=d), name) for name, d in buckets.items()],
               else_="> 30 days").label("age")
    stmt = select(age, func.count()).where(_T.c.status.in_(["open", "acknowledged"])).group_by(age)
    with db.connect() as conn:
        found = dict(conn.execute(stmt).all())
    return {name: int(found.get(name, 0)) for name in [*buckets, "> 30 days"]}
