"""Bulk API 2.0 ingest for large updates: create job -> upload CSV -> UploadComplete -> poll -> results.

Outcomes come from the job's successfulResults / failedResults / unprocessedrecords, matched
back to the caller's items by record Id, so a partly failed job reports every record.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any

from connectors.base import ItemOutcome, WriteItem
from connectors.connector_errors import RetriableError

DONE = {"JobComplete", "Failed", "Aborted"}


def to_csv(items: list[WriteItem], id_field: str = "Id") -> str:
    """CSV body: Id plus the union of the items' fields. A field an item does not carry is left
    blank (Bulk API leaves it unchanged); an explicit None is sent as #N/A (set to null)."""
    columns = sorted({f for i in items for f in i.values})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([id_field, *columns])
    for item in items:
        writer.writerow([item.key[id_field], *(_cell(item.values[c]) if c in item.values else "" for c in columns)])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_results(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def run_update(call: Callable[..., Any], sobject: str, items: list[WriteItem], *, poll_interval: float = 2.0,
               timeout: float = 3600.0, sleep: Callable[[float], None] = time.sleep) -> list[ItemOutcome]:
    """Update `items` of `sobject` through one ingest job; `call(method, path, **kw)` sends."""
    job = call("POST", "jobs/ingest", json={"object": sobject, "operation": "update", "contentType": "CSV",
                                            "lineEnding": "LF"}).json()
    job_id = job["id"]
    call("PUT", f"jobs/ingest/{job_id}/batches", data=to_csv(items).encode("utf-8"),
         headers={"Content-Type": "text/csv"})
    call("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    deadline = time.monotonic() + timeout
    while job.get("state") not in DONE:
        if time.monotonic() > deadline:
            raise RetriableError(f"Bulk API job {job_id} still {job.get('state')} after {timeout:.0f}s",
                                 hint="the job keeps running in Salesforce; read back to reconcile")
        sleep(poll_interval) if job.get("state") != "Open" else None
        job = call("GET", f"jobs/ingest/{job_id}").json()
    return _outcomes(call, job, items)


def _outcomes(call, job: dict, items: list[WriteItem]) -> list[ItemOutcome]:
    job_id = job["id"]
    by_id: dict[str, ItemOutcome] = {}
    for row in parse_results(call("GET", f"jobs/ingest/{job_id}/successfulResults/").text):
        by_id[row["sf__Id"]] = ItemOutcome("", "applied", http_status=200)
    for row in parse_results(call("GET", f"jobs/ingest/{job_id}/failedResults/").text):
        rid = row.get("sf__Id") or row.get("Id", "")
        by_id[rid] = ItemOutcome("", "rejected", row.get("sf__Error") or "failed in Bulk API job", http_status=200)
    for row in parse_results(call("GET", f"jobs/ingest/{job_id}/unprocessedrecords/").text):
        by_id[row.get("Id", "")] = ItemOutcome("", "retriable", f"unprocessed by Bulk API job {job_id} "
                                               f"({job.get('state')}: {job.get('errorMessage', '')})")
    out = []
    for item in items:
        found = by_id.get(str(item.key["Id"]))
        if found is None:
            found = ItemOutcome("", "retriable", f"no result for {item.key['Id']} in Bulk API job {job_id}")
        found.ref = item.ref
        out.append(ItemOutcome(item.ref, found.status, found.message, http_status=found.http_status))
    return out
