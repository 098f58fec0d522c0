"""Database leases on SQLite and PostgreSQL: exclusive, expiring, renewed, released."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core import lease
from core.lease import LeaseHeld, hold
from core.model import Lease, utcnow

pytestmark = pytest.mark.unit


def _row(db, name):
    with db.connect() as conn:
        return conn.execute(select(Lease.__table__).where(Lease.__table__.c.name == name)).first()


def _expire(db, name):
    with db.begin() as conn:
        conn.execute(update(Lease.__table__).where(Lease.__table__.c.name == name)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))


def test_held_lease_raises_naming_the_holder(store):
    errors: list[LeaseHeld] = []

    def second_holder() -> None:  # another thread: nested holds in one thread reuse the lease
        try:
            with hold(store, "pull:sap", "hostB:2:bbbb", ttl=60):
                pass
        except LeaseHeld as exc:
            errors.append(exc)

    with hold(store, "pull:sap", "hostA:1:aaaa", ttl=60):
        worker = threading.Thread(target=second_holder)
        worker.start()
        worker.join()
    assert len(errors) == 1
    info = pytest.ExceptionInfo.from_exc_info((LeaseHeld, errors[0], None))
    assert info.value.holder == "hostA:1:aaaa"
    assert info.value.name == "pull:sap"
    assert "hostA:1:aaaa" in str(info.value)
    assert info.value.exit_code == 1


def test_release_on_exit_and_on_error(store):
    with hold(store, "segment", "a:1:x", ttl=60):
        assert _row(store, "segment").owner == "a:1:x"
    assert _row(store, "segment") is None
    with pytest.raises(RuntimeError):
        with hold(store, "segment", "a:1:x", ttl=60):
            raise RuntimeError("step failed")
    assert _row(store, "segment") is None
    with hold(store, "segment", "b:2:y", ttl=60) as handle:
        assert handle.owner == "b:2:y"


def test_expired_lease_is_taken_over(store):
    assert lease.try_acquire(store, "plan", "crashed:9:dead", ttl=60)
    assert not lease.try_acquire(store, "plan", "b:2:y", ttl=60)
    _expire(store, "plan")
    with hold(store, "plan", "b:2:y", ttl=60):
        assert _row(store, "plan").owner == "b:2:y"
    # the crashed owner's late release cannot delete someone else's lease
    assert lease.try_acquire(store, "plan", "b:2:y", ttl=60)
    assert lease.release(store, "plan", "crashed:9:dead") is False
    assert _row(store, "plan").owner == "b:2:y"


def test_renewal_keeps_a_long_step_leased(store):
    """The renewer pushes the expiry forward twice while the step runs (waited for as a condition, not a
    fixed sleep: a loaded machine may be slow to run it), and the lease stays ours."""
    with hold(store, "apply", "a:1:x", ttl=3) as handle:
        first = _row(store, "apply").expires_at
        seen = {first}
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            handle.lost.wait(0.05)  # a pause between looks; set only if the lease were lost
            seen.add(_row(store, "apply").expires_at)
        assert len(seen) >= 3 and max(seen) > first  # renewed twice
        assert not lease.try_acquire(store, "apply", "b:2:y", ttl=60)
        assert _row(store, "apply").owner == "a:1:x" and not handle.lost.is_set()


def test_lost_lease_sets_on_lost(store):
    lost = threading.Event()
    with hold(store, "reconcile", "a:1:x", ttl=0.6, on_lost=lost):
        _expire(store, "reconcile")
        assert lease.try_acquire(store, "reconcile", "b:2:y", ttl=60)
        assert lost.wait(2)
    assert _row(store, "reconcile").owner == "b:2:y"  # our exit did not release theirs


def test_nested_hold_in_same_thread_reuses_the_lease(store):
    with hold(store, "pull:sap", "a:1:x", ttl=60) as outer:
        with hold(store, "pull:sap", "a:1:other", ttl=60) as inner:
            assert inner is outer
        assert _row(store, "pull:sap").owner == "a:1:x"
    assert _row(store, "pull:sap") is None


def test_racing_threads_one_winner(store):
    winners, blocked = [], []
    start = threading.Barrier(6)
    all_refused = threading.Event()  # the winner holds the lease until every other thread was refused

    def contend(i: int) -> None:
        start.wait()
        try:
            with hold(store, "race", f"h:{i}:t", ttl=60):
                winners.append(i)
                all_refused.wait(60)
        except LeaseHeld:
            blocked.append(i)
            if len(blocked) == 5:
                all_refused.set()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert len(blocked) == 5


def test_default_owner_is_host_pid_uuid():
    import os
    import socket

    host, pid, tag = lease.default_owner().rsplit(":", 2)
    assert (host, int(pid), len(tag)) == (socket.gethostname(), os.getpid(), 8)
    assert lease.step_lease_name("pull", "sap") == "pull:sap"
    assert lease.step_lease_name("segment") == "segment"


def _reaped_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _here(pid: int) -> str:
    return f"{lease.default_owner().split(':')[0]}:{pid}:dead0001"


def test_lease_names_come_from_one_helper():
    assert lease.lease_name(lease.PULL, "sap") == "pull:sap"
    assert lease.lease_name(lease.WRITE, "sap") == "write:sap"
    assert lease.lease_name("reconcile") == "reconcile"


def test_dead_holder_of_this_host_is_taken_over_at_once(store):
    dead = _here(_reaped_pid())
    assert lease.try_acquire(store, "write:sap", dead, ttl=600)
    with hold(store, "write:sap", ttl=60) as handle:  # no waiting for the 600 s expiry
        assert _row(store, "write:sap").owner == handle.owner == lease.default_owner()


def test_live_holder_of_this_host_is_not_taken_over(store):
    import os

    alive = _here(os.getppid())  # our parent: alive, started before the lease was taken
    assert lease.try_acquire(store, "write:sap", alive, ttl=600)
    with pytest.raises(LeaseHeld) as info:
        with hold(store, "write:sap", ttl=60):
            pass
    assert _row(store, "write:sap").owner == alive
    host, pid = lease.parse_owner(alive)
    assert f"host {host} pid {pid}" in info.value.message and " since " in info.value.message
    assert "wait for it to finish" in info.value.hint


def test_recycled_pid_counts_as_dead_and_another_hosts_holder_waits_for_expiry(store):
    import os

    recycled = _here(os.getppid())  # a live pid whose process started after the lease was taken (years ago)
    assert lease.try_acquire(store, "pull:sap", recycled, ttl=600)
    with store.begin() as conn:
        conn.execute(update(Lease.__table__).where(Lease.__table__.c.name == "pull:sap")
                     .values(acquired_at=utcnow() - timedelta(days=3650)))
    assert lease.try_acquire(store, "pull:sap", "me:1:mine", ttl=60)
    other_host = f"not-{lease.default_owner().split(':')[0]}:{_reaped_pid()}:aaaa0000"
    assert lease.try_acquire(store, "pull:crm", other_host, ttl=600)
    assert not lease.try_acquire(store, "pull:crm", "me:1:mine", ttl=60)  # its pid means nothing here
    _expire(store, "pull:crm")
    assert lease.try_acquire(store, "pull:crm", "me:1:mine", ttl=60)
