"""Benchmark: 10,000 parameter changes written to the SAP sandbox through sap_odata's $batch.

Acceptance: at most ceil(10,000 / batch size) + 2 HTTP requests (counted in the sandbox's request
log: $metadata with the CSRF fetch, then one $batch per `batch_size` changesets). Prints the
request count, the bound and the time.

    .venv/bin/python bench/bench_sap_write.py [--changes 10000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import math
import time

from connectors.base import WriteBatch, WriteItem
from connectors.sap.odata import SapODataConnector
from sandbox.generator import generate
from sandbox.sap_odata import build_app
from sandbox.server import serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    dataset = generate(seed=1, products=math.ceil(args.changes / 2), locations=2, customers=5, weeks=2)
    app = build_app(dataset=dataset)
    rows = app.state.rows("API_PRODUCT_SRV", "A_ProductSupplyPlanning")[:args.changes]
    items = [WriteItem(str(n), "API_PRODUCT_SRV/A_ProductSupplyPlanning", {"Product": r["Product"], "Plant": r["Plant"]},
                       {"SafetyStockQuantity": f"{n % 500}.000", "ReorderThresholdQuantity": f"{n % 700}.000",
                        "ABCIndicator": "ABC"[n % 3]}) for n, r in enumerate(rows)]
    with serve(app) as server:
        conn = SapODataConnector({"base_url": server.url})
        start = time.perf_counter()  # batches of --batch-size, as core's systems.<name>.write.batch_size makes them
        outcomes = [o for n in range(0, len(items), args.batch_size)
                    for o in conn.write(WriteBatch(items[n:n + args.batch_size]))]
        elapsed = time.perf_counter() - start
    applied = sum(o.status == "applied" for o in outcomes)
    bound = math.ceil(len(items) / args.batch_size) + 2
    print(f"changes={len(items)} applied={applied} batch_size={args.batch_size}")
    print(f"http_requests={len(app.log)} bound={bound} within_bound={len(app.log) <= bound}")
    print(f"seconds={elapsed:.2f} changes_per_second={len(items) / elapsed:.0f}")


if __name__ == "__main__":
    main()
