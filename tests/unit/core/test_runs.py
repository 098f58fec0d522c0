"""core/runs.py is the only module that inserts or updates `run` rows.

The rules of a run's life (statuses, triggers, counts, messages) live in one place; a module that
writes the table itself would bypass them. The scan looks at every module of core/ and scheduler/
for `insert(Run...)`, `update(Run...)`, `Run.__table__.insert()/.update()` (also through a name
bound to the table) and raw `INSERT INTO run` / `UPDATE run` SQL.
"""

from __future__ import annotations

import ast
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
