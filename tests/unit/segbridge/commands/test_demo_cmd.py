"""The demo's phase clock: wall and CPU seconds charged to the phase that just ended, summed per phase."""

from __future__ import annotations

import itertools

from segbridge.commands import demo_cmd
from segbridge.commands.demo_cmd import PHASES, PhaseClock


def test_laps_charge_each_phase_and_add_up(monkeypatch):
    walls, cpus = itertools.count(10.0, 10.0), itertools.count(1.0, 1.0)  # every reading: +10 s wall, +1 s CPU
    monkeypatch.setattr(demo_cmd.time, "perf_counter", lambda: next(walls))
    monkeypatch.setattr(demo_cmd.time, "process_time", lambda: next(cpus))
    clock = PhaseClock(_wall=0.0, _cpu=0.0)
    clock.lap("setup")
    clock.lap("reconcile")
    clock.lap("apply")
    clock.lap("reconcile")  # the demo's second reconcile (after the hand edit) adds to the first
    assert clock.seconds == {"setup": (10.0, 1.0), "reconcile": (20.0, 2.0), "apply": (10.0, 1.0)}
    assert clock.total() == (40.0, 4.0)
    assert set(clock.seconds) <= set(PHASES)


def test_the_demo_prints_a_web_app_user_per_role_once(tmp_path, capsys, monkeypatch):
    from core import accounts
    from core.store import open_store
    from segbridge.commands.demo_cmd import _web_app

    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "segbridge.yaml").write_text(f"database: {{url: 'sqlite:///{tmp_path / 'segbridge.db'}'}}\n")
    _web_app(tmp_path, serve=False)
    text = capsys.readouterr().out
    assert "serve`, then http://127.0.0.1:8000/" in text
    db = open_store(f"sqlite:///{tmp_path / 'segbridge.db'}")
    for role in accounts.Role:
        line = next(li for li in text.splitlines() if f"demo-{role}" in li)
        password = line.split()[-2] if line.rstrip().endswith("│") else line.split()[-1]
        assert accounts.authenticate(db, f"demo-{role}", password).role == role
    db.dispose()
