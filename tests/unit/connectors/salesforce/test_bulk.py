"""connectors.salesforce.bulk: the Bulk API 2.0 ingest job's exact requests (create, upload CSV,
UploadComplete, poll, results) and outcomes matched back to items by record Id."""

from __future__ import annotations

import json

import pytest
import responses

from connectors.base import WriteItem
from connectors.connector_errors import RetriableError
from connectors.http.client import HttpClient, HttpOptions
from connectors.salesforce.bulk import parse_results, run_update, to_csv

pytestmark = pytest.mark.unit
BASE = "https://acme.my.salesforce.test/services/data/v59.0/"
JOB = BASE + "jobs/ingest/750J"


def _item(ref: str, rid: str, **values) -> WriteItem:
    return WriteItem(ref, "Account", {"Id": rid}, values)


def _call():
    client = HttpClient(HttpOptions(base_url=BASE, max_attempts=1))
    return lambda method, path, **kw: client.request(method, path, **kw)


def test_to_csv_writes_the_union_of_fields_blank_for_absent_and_na_for_null():
    items = [_item("1", "001A", Segment__c="A", Active__c=True), _item("2", "001B", Segment__c=None),
             _item("3", "001C", Rating='Hot, "very"')]
    assert to_csv(items) == ('Id,Active__c,Rating,Segment__c\n001A,true,,A\n001B,,,#N/A\n'
                             '001C,,"Hot, ""very""",\n')


def test_parse_results():
    assert parse_results('"sf__Id","sf__Created",Id\n001A,false,001A\n') == [
        {"sf__Id": "001A", "sf__Created": "false", "Id": "001A"}]
    assert parse_results("") == []


@responses.activate
def test_a_job_runs_through_every_step_and_each_item_gets_its_outcome():
    responses.post(BASE + "jobs/ingest", json={"id": "750J", "state": "Open"})
    responses.put(JOB + "/batches", status=201)
    responses.patch(JOB, json={"id": "750J", "state": "UploadComplete"})
    responses.get(JOB, json={"id": "750J", "state": "InProgress"})
    responses.get(JOB, json={"id": "750J", "state": "JobComplete"})
    responses.get(JOB + "/successfulResults/", body="sf__Id,sf__Created,Id\n001A,false,001A\n")
    responses.get(JOB + "/failedResults/", body='sf__Id,sf__Error,Id\n001B,"INVALID_FIELD:bad value",001B\n')
    responses.get(JOB + "/unprocessedrecords/", body="Id\n001C\n")
    sleeps: list[float] = []
    items = [_item("r1", "001A", Segment__c="A"), _item("r2", "001B", Segment__c="Z"),
             _item("r3", "001C", Segment__c="B"), _item("r4", "001D", Segment__c="C")]
    outcomes = run_update(_call(), "Account", items, poll_interval=0.25, sleep=sleeps.append)
    calls = [(c.request.method, c.request.url) for c in responses.calls]
    assert calls == [("POST", BASE + "jobs/ingest"), ("PUT", JOB + "/batches"), ("PATCH", JOB), ("GET", JOB),
                     ("GET", JOB), ("GET", JOB + "/successfulResults/"), ("GET", JOB + "/failedResults/"),
                     ("GET", JOB + "/unprocessedrecords/")]
    assert json.loads(responses.calls[0].request.body) == {"object": "Account", "operation": "update",
                                                           "contentType": "CSV", "lineEnding": "LF"}
    upload = responses.calls[1].request
    assert upload.headers["Content-Type"] == "text/csv"
    assert upload.body == b"Id,Segment__c\n001A,A\n001B,Z\n001C,B\n001D,C\n"
    assert json.loads(responses.calls[2].request.body) == {"state": "UploadComplete"}
    assert sleeps == [0.25]  # one poll waited (the job was Open before the first GET)
    assert [(o.ref, o.status) for o in outcomes] == [("r1", "applied"), ("r2", "rejected"),
                                                     ("r3", "retriable"), ("r4", "retriable")]
    assert outcomes[1].message == "INVALID_FIELD:bad value"
    assert outcomes[2].message.startswith("unprocessed by Bulk API job 750J (JobComplete")
    assert outcomes[3].message == "no result for 001D in Bulk API job 750J"


@responses.activate
def test_a_job_that_never_finishes_is_retriable():
    responses.post(BASE + "jobs/ingest", json={"id": "750J", "state": "Open"})
    responses.put(JOB + "/batches", status=201)
    responses.patch(JOB, json={"id": "750J", "state": "UploadComplete"})
    responses.get(JOB, json={"id": "750J", "state": "InProgress"})
    with pytest.raises(RetriableError, match="Bulk API job 750J still Open after 0s"):
        run_update(_call(), "Account", [_item("r1", "001A", Segment__c="A")], timeout=0, sleep=lambda s: None)
