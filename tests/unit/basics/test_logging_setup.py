"""JSON log lines carry a run's structured fields and INFO events; the rich console stays at WARNING."""

from __future__ import annotations

import io
import json
import logging

import pytest

from basics.logging_setup import setup_logging

pytestmark = pytest.mark.unit

NAMES = ("segbridge", "core", "connectors", "scheduler", "sandbox")


@pytest.fixture(autouse=True)
def _restore():
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in NAMES}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def _run_event() -> None:
    logging.getLogger("segbridge.runs").info("run 7 (pull, sap) finished: ok", extra={
        "event": "run_finished", "run_id": 7, "kind": "pull", "system": "sap", "status": "ok",
        "counts": {"read": 3}})


def test_json_lines_carry_info_run_events_with_their_fields():
    stream = io.StringIO()
    setup_logging(json_logs=True, verbose=0, stream=stream)
    _run_event()
    line = json.loads(stream.getvalue())
    assert line["level"] == "info" and line["event"] == "run_finished"
    assert (line["run_id"], line["kind"], line["system"], line["status"], line["counts"]) == (
        7, "pull", "sap", "ok", {"read": 3})


def test_the_rich_console_leaves_run_events_out_unless_verbose():
    stream = io.StringIO()
    setup_logging(json_logs=False, verbose=0, stream=stream)
    _run_event()
    assert stream.getvalue() == ""
    setup_logging(json_logs=False, verbose=1, stream=stream)
    _run_event()
    assert "run 7 (pull, sap) finished: ok" in stream.getvalue()
