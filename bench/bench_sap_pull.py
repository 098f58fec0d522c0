"""SAP OData pull throughput: segbridge's pull of mappings/sap_s4.yaml (paging, mapping, crosswalk, store)
against a bare `requests` loop reading the same entity sets and expansions from the same server, in one
run. Target: >= 0.85 of the bare loop.

    .venv/bin/python bench/bench_sap_pull.py [--products 2000] [--customers 1000] [--weeks 52] [--rounds 2]

The SAP OData sandbox runs in another process (as bench/bench_pull.py does). The bare loop reads each
entity set of the mapping as a hand-written client would, asking for what the pull asks: `$format=json`,
the connector's `$select`, `$expand` and `$orderby` (its read plan), each entity set once (as the pull
reads it: `read_with` entities share a read), `$top`/`$skip` pages of `--page-size` following `__next`,
parsing every page; nothing is mapped or stored. Data generation and server start-up are not timed.
Each round times the bare loop, then a full pull into a fresh SQLite store, then the bare loop again;
the ratio is taken within each round, against the mean of the two bare loops (the machine is shared:
its load varies between rounds and within one; a load that rises or falls steadily cancels out).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time

USER, PASSWORD = "SEGBRIDGE", "bench-sap-pass"
ROOT = "/sap/opu/odata/sap"


def serve_sandbox(sizes: dict, page_size: int, queue) -> None:
    from sandbox.generator import generate
    from sandbox.sap_odata import build_app
    from sandbox.server import serve

    dataset = generate(seed=1, locations=3, **sizes)
    app = build_app(dataset, auth=(USER, PASSWORD), page_size=page_size)
    server = serve(app).start()
    queue.put(server.url)
    while True:
        time.sleep(3600)


def entity_reads(url: str) -> list[tuple[str, str, dict]]:
    """(entities, service/set, query options) of every read of the shipped SAP mapping, as the pull asks
    for it: one read per entity set (`read_with` members share their lead's), the connector's own
    `$select`, `$expand` and `$orderby` (from its read plan, so both sides ask the server for the same)."""
    from connectors.sap.odata import SapODataConnector
    from core.mapping import load_mapping
    from core.mapping.shared_reads import read_groups
    from core.paths import shipped_mapping
    from core.sync import stream_spec

    out = []
    conn = SapODataConnector({"base_url": url, "auth": {"type": "basic", "username": USER,
                                                       "password": "${BENCH_SAP_PASSWORD}"}})
    try:
        for lead, *fed in read_groups(load_mapping(shipped_mapping("sap_s4.yaml")).entities):
            spec = stream_spec(lead, *fed)
            service, es = conn._resolve(spec.name)
            plan = conn._plan(spec, service, es)
            params = {"$format": "json", "$orderby": ",".join(es.keys)}
            params |= {k: ",".join(v) for k, v in (("$select", plan.select), ("$expand", plan.expand)) if v}
            out.append(("+".join(e.name for e in (lead, *fed)), spec.name, params))
    finally:
        conn.close()
    return out


def bare_loop(url: str, page_size: int) -> tuple[int, int, float]:
    """Every entity set of the mapping, page by page, parsed; (records, requests, seconds)."""
    import requests

    reads = entity_reads(url)
    started = time.perf_counter()
    records = sent = 0
    with requests.Session() as http:
        http.auth = (USER, PASSWORD)
        for _, path, params in reads:
            skip = 0
            while True:
                got, link, query = 0, f"{url}{ROOT}/{path}", {**params, "$top": page_size, "$skip": skip}
                while link:
                    body = http.get(link, params=query, timeout=300).json()["d"]
                    sent += 1
                    got += len(body["results"])
                    link, query = body.get("__next"), None
                records += got
                if got < page_size:
                    break
                skip += got
    return records, sent, time.perf_counter() - started


def segbridge_pull(url: str, tmp: str, round_no: int, page_size: int):
    from core.settings import SegbridgeConfig
    from core.store import create_all, open_store
    from core.sync import pull

    db = open_store(f"sqlite:///{tmp}/bench{round_no}.db")
    create_all(db)
    config = SegbridgeConfig.model_validate({"systems": {"sap": {
        "kind": "sap_odata", "mapping": "sap_s4.yaml",
        "options": {"base_url": url, "page_size": page_size, "read_timeout": 300,
                    "auth": {"type": "basic", "username": USER, "password": "${BENCH_SAP_PASSWORD}"}}}}})
    started = time.perf_counter()
    result = pull(config, db, progress=None)[0]
    seconds = time.perf_counter() - started
    db.dispose()
    mapped = sum(s.read for s in result.streams)
    read = sum(s.read for s in result.streams if s.requests)  # an entity fed by another's read sends none
    per = ", ".join(f"{s.entity} {s.read:,} in {s.seconds:.2f} s" for s in result.streams)
    return read, mapped, seconds, f"{result.status} {result.message or ''}".strip(), per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--order-rate", type=float, default=0.3)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sizes = {"products": args.products, "customers": args.customers, "weeks": args.weeks,
             "order_rate": args.order_rate}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=serve_sandbox, args=(sizes, args.page_size, queue), daemon=True)
    proc.start()
    url = queue.get(timeout=900)
    os.environ["BENCH_SAP_PASSWORD"] = PASSWORD
    ratios: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                load = os.getloadavg()[0]
                records, sent, before = bare_loop(url, args.page_size)
                read, mapped, seconds, status, per = segbridge_pull(url, tmp, round_no, args.page_size)
                _, _, after = bare_loop(url, args.page_size)
                bare = (before + after) / 2  # before and after the pull: a load that drifts cancels out
                ratios.append(bare / seconds)
                print(f"round {round_no + 1} (load {load:.1f}): bare loop {records:,} records, {sent} requests in "
                      f"{before:.2f} s before and {after:.2f} s after the pull; pull {read:,} records read "
                      f"({mapped:,} mapped) in {seconds:.2f} s, {status}; ratio {bare / seconds:.2f}")
                print(f"  per entity: {per}")
    finally:
        proc.terminate()
    print(f"ratio pull / bare loop per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"best {max(ratios):.2f} (target >= 0.85)")


if __name__ == "__main__":
    main()
