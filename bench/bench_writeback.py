"""Benchmark: plan + apply N changes (default 10,000) against the in-memory connector and the SAP sandbox.

    .venv/bin/python bench/bench_writeback.py [--changes 10000] [--batch 100] [--no-sap]

Prints seconds for plan and apply and the number of write requests per target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

import wb_support as s  # noqa: E402 - the test suite's in-memory connector and seeding

from core.migrate import ensure_schema  # noqa: E402
from core.settings import SegbridgeConfig  # noqa: E402
from core.store import open_store  # noqa: E402
from core.writeback.apply import apply_plan  # noqa: E402
from core.writeback.plan import make_plan  # noqa: E402


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{label:<28} {time.perf_counter() - start:8.2f} s")
    return result


def store(folder: Path, records: int):
    db = open_store(f"sqlite:///{folder / 'bench.db'}")
    ensure_schema(db)
    its = s.items(records)
    s.seed(db, its)
    return db, its


def bench_memory(records: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, its = store(Path(tmp), records)
        s.world_from_store("bench", its)
        cfg = s.make_config(Path(tmp), "bench", batch_size=batch,
                            writeback={"guardrails": {"max_safety_stock_value_increase_pct": 1000}})
        plan = timed("memory: plan", lambda: make_plan(cfg, db))
        result = timed("memory: apply", lambda: apply_plan(cfg, db, plan.id, progress=None))
        print(f"memory: {result.total('applied')} changes applied in {result.requests} write requests")


def bench_sap(records: int, batch: int) -> None:
    from sandbox.sap_odata import build_app
    from sandbox.server import serve

    app = build_app()
    rows = [{"Product": i["product"], "Plant": i["plant"], "MRPType": "PD", "LotSizingProcedure": "EX",
             "SafetyStockQuantity": f"{i['cur_ss']:.3f}", "ReorderThresholdQuantity": f"{i['cur_rop']:.3f}",
             "BaseUnit": "EA"} for i in s.items(records)]
    app.state.load({"API_PRODUCT_SRV": {"A_ProductSupplyPlanning": rows}})
    with tempfile.TemporaryDirectory() as tmp, serve(app) as server:
        db, _ = store(Path(tmp), records)
        cfg = SegbridgeConfig.model_validate({
            "systems": {"sap": {"kind": "sap_odata", "mapping": "sap_s4.yaml", "write": {"batch_size": batch},
                                "options": {"base_url": server.url, "backoff_initial": 0}}},
            "writeback": {"out_dir": str(Path(tmp) / "plans"), "retry_backoff_seconds": 0,
                          "guardrails": {"max_safety_stock_value_increase_pct": 1000}}})
        plan = timed("sap sandbox: plan", lambda: make_plan(cfg, db))
        before = len(app.log)
        result = timed("sap sandbox: apply", lambda: apply_plan(cfg, db, plan.id, progress=None))
        print(f"sap sandbox: {result.total('applied')} changes applied; {result.requests} write batches, "
              f"{len(app.log) - before} HTTP requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=10_000, help="Changes (2 fields per record)")
    parser.add_argument("--batch", type=int, default=100, help="Records per write request")
    parser.add_argument("--no-sap", action="store_true", help="Skip the SAP sandbox run")
    args = parser.parse_args()
    records = max(1, args.changes // 2)
    bench_memory(records, args.batch)
    if not args.no_sap:
        bench_sap(records, args.batch)


if __name__ == "__main__":
    main()
