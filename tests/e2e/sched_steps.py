"""A test step for scheduler processes (registered in place of the cycle's by scheduler_proc.py).

`nap` takes a little time (SB_NAP seconds) and records its run, so two schedulers firing it
together contend for its lease.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from core import runs


def nap(config, db, *, systems=None, trigger, stop_event=None):
    with runs.recorded_run(db, "segment", trigger=trigger) as outcome:
        time.sleep(float(os.environ.get("SB_NAP", "0.2")))
        outcome["counts"] = {"read": 1}
    return SimpleNamespace(run_id=outcome["run_id"], status="ok", counts=outcome["counts"])


def register_all() -> None:
    from scheduler.jobs import register_step

    register_step("segment", nap)
