"""Database leases: one row per step so two processes never run the same step at once.

APScheduler's `max_instances` only counts inside one process, so a second scheduler (or a
manual `segbridge run` next to a scheduled one) needs a shared lock. A lease is a row in
`lease` (name, owner, acquired_at, expires_at):

- acquire: `INSERT ... ON CONFLICT DO NOTHING`; if the row exists, take it over only with a
  conditional `UPDATE ... WHERE expires_at < now` (a crashed owner's lease expires). Both
  statements are atomic on SQLite and PostgreSQL, so two racers never both win;
- renew: a background thread pushes `expires_at` forward every `ttl / 3` while the step runs;
  if the row was taken over meanwhile (this process stalled past the expiry), `on_lost` is set
  so the step can stop;
- release: `DELETE ... WHERE owner = me` on exit.

Holds nest inside one thread of control (the scheduler takes `pull:sap`, the step it calls
takes `pull:sap` again): the inner hold reuses the outer one instead of blocking itself.

Example:
    >>> with hold(db, "segment", ttl=120) as lease:          # doctest: +SKIP
    ...     run_segmentation(stop_event=lease.lost)
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from basics.errors import BlockedError
from core.model import Lease, utcnow

log = logging.getLogger("segbridge.lease")
DEFAULT_TTL = 120.0
_TABLE = Lease.__table__
_HELD: contextvars.ContextVar[dict[str, LeaseHandle] | None] = contextvars.ContextVar("segbridge_leases",
                                                                                     default=None)
_OWNER: dict[int, str] = {}


class LeaseHeld(BlockedError):
    """Another owner holds the lease: the step is skipped, not failed."""

    def __init__(self, name: str, holder: str, expires_at: datetime | None):
        super().__init__(f"step {name!r} is running elsewhere: lease held by {holder} until {expires_at}",
                         hint="wait for it to finish; a crashed holder's lease expires by itself")
        self.name = name
        self.holder = holder
        self.expires_at = expires_at


@dataclass
class LeaseHandle:
    """A held lease; `lost` is set when a renewal finds the row taken over."""

    name: str
    owner: str
    ttl: float
    lost: threading.Event = field(default_factory=threading.Event)


def step_lease_name(step: str, system: str | None = None) -> str:
    """The lease (and scheduler job id) of a step: 'pull:sap' for a pull, 'segment' otherwise."""
    return f"{step}:{system}" if system else step


def default_owner() -> str:
    """host:pid:uuid of this process (the uuid tells restarts with a recycled pid apart)."""
    pid = os.getpid()  # keyed by pid so a forked child gets its own identity
    if pid not in _OWNER:
        _OWNER[pid] = f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}"
    return _OWNER[pid]


def _seconds(ttl: float | timedelta) -> float:
    value = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    if value <= 0:
        raise ValueError("lease ttl must be positive")
    return value


def try_acquire(db: Engine, name: str, owner: str, ttl: float | timedelta = DEFAULT_TTL) -> bool:
    """Take the lease if free or expired; True when this owner now holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=_seconds(ttl))
    with db.begin() as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(_TABLE).values(name=name, owner=owner, acquired_at=now, expires_at=expires)
        stmt = stmt.on_conflict_do_nothing(index_elements=["name"]).returning(_TABLE.c.name)
        if conn.execute(stmt).first() is not None:  # rowcount is unreliable here on psycopg
            return True
        takeover = (update(_TABLE).where(_TABLE.c.name == name, _TABLE.c.expires_at < now)
                    .values(owner=owner, acquired_at=now, expires_at=expires).returning(_TABLE.c.name))
        taken = conn.execute(takeover).first() is not None
    if taken:
        log.warning("lease %s: took over an expired lease", name)
    return taken


def holder(db: Engine, name: str) -> tuple[str, datetime] | None:
    """(owner, expires_at) of a lease row, or None when there is none."""
    with db.connect() as conn:
        row = conn.execute(select(_TABLE.c.owner, _TABLE.c.expires_at).where(_TABLE.c.name == name)).first()
    return (row.owner, row.expires_at) if row else None


def renew(db: Engine, name: str, owner: str, ttl: float | timedelta = DEFAULT_TTL) -> bool:
    """Push the expiry forward; False when the lease is no longer ours."""
    stmt = (update(_TABLE).where(_TABLE.c.name == name, _TABLE.c.owner == owner)
            .values(expires_at=utcnow() + timedelta(seconds=_seconds(ttl))).returning(_TABLE.c.name))
    with db.begin() as conn:
        return conn.execute(stmt).first() is not None


def release(db: Engine, name: str, owner: str) -> bool:
    """Delete the lease if we still own it (never someone else's)."""
    with db.begin() as conn:
        stmt = delete(_TABLE).where(_TABLE.c.name == name, _TABLE.c.owner == owner).returning(_TABLE.c.name)
        return conn.execute(stmt).first() is not None


def release_all(db: Engine, owner: str) -> int:
    """Delete every lease of `owner` (a scheduler's last act on shutdown)."""
    with db.begin() as conn:
        return len(conn.execute(delete(_TABLE).where(_TABLE.c.owner == owner).returning(_TABLE.c.name)).all())


def _renew_loop(db: Engine, handle: LeaseHandle, done: threading.Event) -> None:
    """Renew every ttl/3 until `done`; a failed renewal marks the lease lost."""
    while not done.wait(handle.ttl / 3):
        try:
            still_ours = renew(db, handle.name, handle.owner, handle.ttl)
        except Exception as exc:  # noqa: BLE001 - a database hiccup: try again next tick
            log.warning("lease %s: renewal failed (%s); retrying", handle.name, type(exc).__name__)
            continue
        if not still_ours:
            log.error("lease %s: lost to another owner; stopping the step", handle.name)
            handle.lost.set()
            return


@contextmanager
def hold(db: Engine, name: str, owner: str | None = None, ttl: float | timedelta = DEFAULT_TTL,
         on_lost: threading.Event | None = None) -> Iterator[LeaseHandle]:
    """Hold lease `name` for the duration of the block; raise LeaseHeld naming the holder if taken."""
    held = _HELD.get() or {}
    if name in held:  # nested hold of the same step in the same thread of control
        yield held[name]
        return
    handle = LeaseHandle(name, owner or default_owner(), _seconds(ttl), on_lost or threading.Event())
    if not try_acquire(db, name, handle.owner, handle.ttl):
        current = holder(db, name)
        raise LeaseHeld(name, *(current or ("another owner (just released)", None)))
    done = threading.Event()
    renewer = threading.Thread(target=_renew_loop, args=(db, handle, done), daemon=True,
                               name=f"lease-{name}")
    renewer.start()
    token = _HELD.set({**held, name: handle})
    try:
        yield handle
    finally:
        _HELD.reset(token)
        done.set()
        renewer.join(timeout=5)
        try:
            release(db, name, handle.owner)
        except Exception:  # noqa: BLE001 - the lease then expires after its ttl
            log.exception("lease %s: release failed; it expires by itself", name)
