"""Benchmark: map (and load into SQLite) SAP-shaped A_SalesOrderItem records through sap_s4.yaml.

Records are generated batch by batch exactly as the OData connector yields them (JSON dicts
with Edm.Decimal strings, /Date(ms)/ dates and the expanded to_SalesOrder header), so memory
stays bounded by the batch size. Prints records/s for mapping alone and for mapping + loading,
and the process's peak RSS.

    PYTHONPATH=. .venv/bin/python bench/bench_mapping.py [--records 1000000] [--batch 100000] [--no-load]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from core.mapping import Conversions, load_mapping, map_records
from core.mapping.ingest import BatchCounts, load_batch
from core.paths import shipped_mapping
from core.store import create_all, open_store

UNITS = ["EA", "EA", "EA", "CS", "PAL"]


def conversions(products: int) -> Conversions:
    """A_ProductUnitsOfMeasure for every product: EA base, CS = 12 EA, PAL = 480 EA."""
    rows = []
    for p in range(products):
        mat = f"MAT{p:05d}"
        rows += [{"Product": mat, "AlternativeUnit": u, "QuantityNumerator": n, "QuantityDenominator": "1"}
                 for u, n in (("EA", "1"), ("CS", "12"), ("PAL", "480"))]
    return Conversions.from_product_units(rows)


def batch(start: int, size: int, rng: random.Random) -> list[dict]:
    """`size` sales order items, 5 per order, as OData V2 JSON with $expand=to_SalesOrder."""
    out = []
    base_ms = 1704067200000  # 2024-01-01
    for i in range(start, start + size):
        order = 1000000 + i // 5
        day = base_ms + (order % 730) * 86400000
        out.append({
            "SalesOrder": str(order), "SalesOrderItem": str((i % 5 + 1) * 10),
            "Material": f"MAT{rng.randrange(5000):05d}", "RequestedQuantity": f"{rng.randrange(1, 200)}.000",
            "RequestedQuantityUnit": UNITS[i % 5], "NetAmount": f"{rng.randrange(100, 99999) / 100:.2f}",
            "TransactionCurrency": "EUR", "ProductionPlant": f"{1010 + order % 4}",
            "SalesDocumentRjcnReason": "" if i % 50 else "02",
            "to_SalesOrder": {"SoldToParty": f"{17100000 + order % 20000:010d}", "SalesOrderDate": f"/Date({day})/",
                              "RequestedDeliveryDate": f"/Date({day + 7 * 86400000})/",
                              "SalesOrganization": "1710", "LastChangeDateTime": f"/Date({day + 3600000 + order % 86400 * 1000}+0000)/"},
        })
    return out


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--no-load", action="store_true", help="map only, skip loading into SQLite")
    args = ap.parse_args()
    em = load_mapping(shipped_mapping("sap_s4.yaml")).entities["sales_order_item"]
    conv = conversions(5000)
    rng = random.Random(7)
    db = None
    if not args.no_load:
        db_file = Path(tempfile.mkdtemp()) / "bench.db"
        db = open_store(f"sqlite:///{db_file}")
        create_all(db)
    map_s = load_s = gen_s = 0.0
    total, quarantined = BatchCounts(), 0
    for start in range(0, args.records, args.batch):
        t0 = time.perf_counter()
        records = batch(start, min(args.batch, args.records - start), rng)
        t1 = time.perf_counter()
        result = map_records(em, records, conv)
        t2 = time.perf_counter()
        gen_s += t1 - t0
        map_s += t2 - t1
        quarantined += len(result.quarantined)
        if db is not None:
            with db.begin() as conn:
                total += load_batch(conn, "sap_s4", em, records, run_id=1, conversions=conv)
            load_s += time.perf_counter() - t2
    print(f"records:                {args.records:,} in batches of {args.batch:,} (generation {gen_s:.1f}s, not counted)")
    print(f"mapping:                {args.records / map_s:,.0f} records/s ({map_s:.2f}s), {quarantined:,} quarantined")
    if db is not None:
        print(f"mapping + SQLite load:  {args.records / load_s:,.0f} records/s ({load_s:.2f}s), "
              f"loaded {total.loaded:,}, quarantined {total.quarantined:,}")
    print(f"peak RSS:               {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
