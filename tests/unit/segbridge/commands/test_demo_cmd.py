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
