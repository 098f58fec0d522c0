"""core/runs.py is the only module that inserts or updates `run` rows.

The rules of a run's life (statuses, triggers, counts, messages) live in one place; a module that
writes the table itself would bypass them. The scan looks at every module of core/ and scheduler/
for `insert(Run...)`, `update(Run...)`, `Run.__table__.insert()/.update()` (also through a name
bound to the table) and raw `INSERT INTO run` / `UPDATE run` SQL.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
WRITER = ROOT / "core" / "runs.py"
RAW_SQL = re.compile(r"\b(insert\s+into|update)\s+\"?run\"?\b", re.IGNORECASE)


def _mentions_run(node: ast.AST, aliases: set[str]) -> bool:
    """The expression names the Run model, its table, or a name bound to either."""
    return any(isinstance(n, ast.Name) and (n.id == "Run" or n.id in aliases) for n in ast.walk(node))


def _aliases(tree: ast.AST) -> set[str]:
    """Names assigned from an expression mentioning Run (e.g. `runs = Run.__table__`), to a fixpoint."""
    found: set[str] = set()
    while True:
        more = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and _mentions_run(n.value, found)
                for t in n.targets if isinstance(t, ast.Name)}
        if more <= found:
            return found
        found |= more


def run_writes(source: str) -> list[int]:
    """Line numbers of the writes to the run table in one module's source."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("insert", "update") and node.args \
                and _mentions_run(node.args[0], aliases):
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute) and func.attr in ("insert", "update") \
                and _mentions_run(func.value, aliases):
            lines.append(node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL.search(node.value):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_finds_every_way_of_writing_the_table():
    bad = '''
from sqlalchemy import insert, update
from core.model import Run
insert(Run.__table__).values(kind="pull")
update(Run).where(Run.id == 1)
Run.__table__.insert().values(kind="pull")
t = Run.__table__
t.update().values(status="ok")
conn.execute(text("UPDATE run SET status = 'ok'"))
'''
    assert run_writes(bad) == [4, 5, 6, 8, 9]
    fine = "from core.model import Run\nselect(Run.id).where(Run.status == 'ok')\nupdate(Plan.__table__)\n"
    assert run_writes(fine) == []


def test_only_core_runs_writes_the_run_table():
    offenders = []
    for folder in ("core", "scheduler"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == WRITER or "migrations" in path.parts:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{line}" for line in run_writes(path.read_text("utf-8"))]
    assert not offenders, "write runs through core.runs (start_run, finish_run, ...), not here: " + ", ".join(
        offenders)


def test_core_runs_itself_is_seen_writing():
    assert run_writes(WRITER.read_text("utf-8")), "the scan must see the one writer, or it sees nothing"


def _reaped_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _run_owned_by(db, owner: str, kind: str = "pull") -> int:
    from sqlalchemy import update

    from core import runs
    from core.model import Run

    run_id = runs.start_run(db, kind, system="sap")
    with db.begin() as conn:  # as if another process had started it
        conn.execute(update(Run.__table__).where(Run.__table__.c.id == run_id).values(owner=owner))
    return run_id


def test_running_runs_of_dead_processes_are_marked_interrupted(store):
    import os

    from core import lease, runs

    host = lease.default_owner().split(":")[0]
    dead = _run_owned_by(store, f"{host}:{_reaped_pid()}:dead0001")
    alive = _run_owned_by(store, f"{host}:{os.getppid()}:live0001")
    mine = runs.start_run(store, "pull", system="sap")
    far_pull = _run_owned_by(store, "elsewhere:7:far00001")          # another host, no live lease
    far_segment = _run_owned_by(store, "elsewhere:7:far00001", "segment")  # a CLI segment holds no lease
    far_leased = _run_owned_by(store, "elsewhere:8:far00002")
    assert lease.try_acquire(store, "pull:sap", "elsewhere:8:far00002", ttl=600)
    assert sorted(runs.mark_interrupted(store, by="`segbridge runs list`")) == sorted([dead, far_pull])
    info = runs.get_run(store, dead)
    assert info.status == "interrupted" and info.finished_at is not None
    assert info.message.startswith(f"process {host}:") and "died; marked interrupted by `segbridge runs list`" \
        in info.message
    for run_id in (alive, mine, far_segment, far_leased):
        assert runs.get_run(store, run_id).status == "running"
    assert runs.get_run(store, mine).owner == lease.default_owner()
    assert runs.mark_interrupted(store, by="again") == []  # once only
    assert runs.dead_run_ids(store, [dead, alive, mine, far_leased]) == {dead}


def test_every_start_and_end_is_logged_with_its_counts(store, caplog):
    from core import runs

    with caplog.at_level(logging.INFO, logger="segbridge.runs"):
        run_id = runs.start_run(store, "pull", system="sap")
        runs.finish_run(store, run_id, "ok", counts={"read": 3, "loaded": 2, "quarantined": 1})
        skipped = runs.record_skipped(store, "apply", system="sap", message="lease held by host:1")
    events = [(r.event, r.run_id, r.kind, r.system, r.status, getattr(r, "counts", None)) for r in caplog.records]
    assert events == [("run_started", run_id, "pull", "sap", "running", None),
                      ("run_finished", run_id, "pull", "sap", "ok", {"read": 3, "loaded": 2, "quarantined": 1}),
                      ("run_finished", skipped, "apply", "sap", "skipped", {})]
    assert all(r.levelno == logging.INFO and r.name == "segbridge.runs" for r in caplog.records)
    assert caplog.records[1].getMessage() == f"run {run_id} (pull, sap) finished: ok"
