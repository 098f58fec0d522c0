"""Database leases: one row per step so two processes never run the same step at once.

APScheduler's `max_instances` only counts inside one process, so a second scheduler (or a
manual `segbridge run` next to a scheduled one) needs a shared lock. A lease is a row in
`lease` (name, owner, acquired_at, expires_at):

- acquire: `INSERT ... ON CONFLICT DO NOTHING`; if the row exists, take it over only with a
  conditional `UPDATE ... WHERE expires_at < now` (a crashed owner's lease expires), or, when
  the holder is a dead process of THIS host, at once with `UPDATE ... WHERE owner = <dead owner>`
  (see `owner_dead`). Each statement is atomic on SQLite and PostgreSQL, so two racers never
  both win; a holder on another host is waited out until its lease expires;
- renew: a background thread pushes `expires_at` forward every `ttl / 3` while the step runs;
  if the row was taken over meanwhile (this process stalled past the expiry), `on_lost` is set
  so the step can stop;
- release: `DELETE ... WHERE owner = me` on exit.

Names (`lease_name`, the one place they are made): `pull:<system>` for a system's pull (the
CLI, `run` and the scheduler alike), `write:<system>` for every write to a system (any apply,
rollback plans included), and the step's name for `segment`, `plan`, `reconcile` (and the
scheduler's own job leases such as `apply`).

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
from datetime import UTC, datetime, timedelta

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
PULL, WRITE = "pull", "write"  # the per-system leases
HOST_CHARS = 60  # hostname as kept in an owner: owners fit run.owner (80 characters)


class LeaseHeld(BlockedError):
    """Another owner holds the lease: the step is skipped, not failed."""

    def __init__(self, name: str, holder: str, expires_at: datetime | None, since: datetime | None = None):
        who = describe_owner(holder)
        when = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
        super().__init__(f"{name!r} is running elsewhere: lease held by {who}{when} (until {expires_at})",
                         hint="wait for it to finish and run the command again; a crashed holder's lease is "
                              "taken over at once on its own host, else it expires by itself")
        self.name = name
        self.holder = holder
        self.expires_at = expires_at
        self.since = since


@dataclass
class LeaseHandle:
    """A held lease; `lost` is set when a renewal finds the row taken over."""

    name: str
    owner: str
    ttl: float
    lost: threading.Event = field(default_factory=threading.Event)


def lease_name(step: str, system: str | None = None) -> str:
    """The one place lease names are made: 'pull:sap', 'write:sap', else the step ('segment').

    Also the scheduler's job ids (`pull:sap`), so a job and a manual command share one lease.
    """
    return f"{step}:{system}" if system else str(step)


step_lease_name = lease_name  # the scheduler's name for it


def default_owner() -> str:
    """host:pid:uuid of this process (the uuid tells restarts with a recycled pid apart)."""
    pid = os.getpid()  # keyed by pid so a forked child gets its own identity
    if pid not in _OWNER:
        _OWNER[pid] = f"{_host()}:{pid}:{uuid.uuid4().hex[:8]}"
    return _OWNER[pid]


def _host() -> str:
    return socket.gethostname()[:HOST_CHARS].replace(":", "_")


def parse_owner(owner: str) -> tuple[str, int] | None:
    """(host, pid) of a `host:pid:uuid` owner, or None for any other owner string."""
    host, _, rest = (owner or "").partition(":")
    pid, _, tag = rest.partition(":")
    return (host, int(pid)) if host and pid.isdigit() and tag else None


def describe_owner(owner: str) -> str:
    """'host h pid 12 (h:12:ab)' for a process owner, the raw string otherwise."""
    parsed = parse_owner(owner)
    return f"host {parsed[0]} pid {parsed[1]} ({owner})" if parsed else owner


def _process_start(pid: int) -> datetime | None:
    """When process `pid` started (Linux /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.fromtimestamp(started, UTC)


def owner_dead(owner: str, since: datetime | None = None) -> bool:
    """True only when `owner` is provably a dead process of THIS host.

    Dead: its pid no longer exists (os.kill(pid, 0) -> ProcessLookupError); or the pid is ours
    but the owner string is not (an earlier process whose pid we got); or the pid's process
    started after `since` (when it took the lease or started the run: the pid was recycled; Linux
    /proc only, elsewhere a live pid counts as the owner). Another host's owner is never
    judged dead here: its lease waits for its expiry.
    """
    parsed = parse_owner(owner)
    if parsed is None or parsed[0] != _host():
        return False
    pid = parsed[1]
    if pid == os.getpid():
        return owner != default_owner()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's process
    started = _process_start(pid)
    if since is None or started is None:
        return False
    since = since if since.tzinfo else since.replace(tzinfo=UTC)  # stores give naive UTC back
    return started > since + timedelta(seconds=1)


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
        return True
    return _take_from_dead(db, name, owner, expires)


def _take_from_dead(db: Engine, name: str, owner: str, expires: datetime) -> bool:
    """Take the lease at once when its holder is a dead process of this host (see `owner_dead`)."""
    with db.connect() as conn:
        row = conn.execute(select(_TABLE.c.owner, _TABLE.c.acquired_at).where(_TABLE.c.name == name)).first()
    if row is None or row.owner == owner or not owner_dead(row.owner, row.acquired_at):
        return False
    stmt = (update(_TABLE).where(_TABLE.c.name == name, _TABLE.c.owner == row.owner)  # only that dead owner's
            .values(owner=owner, acquired_at=utcnow(), expires_at=expires).returning(_TABLE.c.name))
    with db.begin() as conn:
        taken = conn.execute(stmt).first() is not None
    if taken:
        log.warning("lease %s: took over from %s, a process of this host that is gone", name, row.owner)
    return taken


def holder(db: Engine, name: str) -> tuple[str, datetime] | None:
    """(owner, expires_at) of a lease row, or None when there is none."""
    row = holder_row(db, name)
    return (row[0], row[1]) if row else None


def holder_row(db: Engine, name: str) -> tuple[str, datetime, datetime] | None:
    """(owner, expires_at, acquired_at) of a lease row, or None when there is none."""
    with db.connect() as conn:
        row = conn.execute(select(_TABLE.c.owner, _TABLE.c.expires_at, _TABLE.c.acquired_at)
                           .where(_TABLE.c.name == name)).first()
    return (row.owner, row.expires_at, row.acquired_at) if row else None


def live_owners(db: Engine) -> set[str]:
    """Owners holding an unexpired lease now."""
    with db.connect() as conn:
        return {r.owner for r in conn.execute(select(_TABLE.c.owner).where(_TABLE.c.expires_at >= utcnow()))}


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
        current = holder_row(db, name)
        raise LeaseHeld(name, *(current or ("another owner (just released)", None, None)))
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
