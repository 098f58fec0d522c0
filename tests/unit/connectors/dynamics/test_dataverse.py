"""dynamics365 reads over `responses`: the mapping's stream options (`select`, `delta_field`) over the
connector's `tables` defaults, and the exact request URL with its OData v4 DateTimeOffset filter."""

from __future__ import annotations

import pytest
import responses

from connectors.base import OutcomeStatus, StreamSpec, WriteBatch, WriteItem
from connectors.connector_errors import AuthError, FatalError
from connectors.dynamics.dataverse import DynamicsConnector

pytestmark = pytest.mark.unit
BASE = "https://acme.crm4.dynamics.com"
ACCOUNTS = BASE + "/api/data/v9.2/accounts"
GUID1, GUID2, GUID3 = (f"00000000-0000-0000-0000-00000000000{i}" for i in (1, 2, 3))
# What core.sync.stream_spec hands over for mappings/dynamics365.yaml's account entity.
MAPPING_STREAM = StreamSpec("accounts", ["accountid"], options={
    "select": ["accountid", "accountnumber", "name", "accountclassificationcode", "address1_country", "modifiedon"],
    "delta_field": "modifiedon"})


def conn(tables: dict | None = None) -> DynamicsConnector:
    return DynamicsConnector({"base_url": BASE, "max_attempts": 1, "page_size": 2, "tables": {
        "accounts": {"key": "accountid", "fields": ["accountnumber"]}} if tables is None else tables})


def urls() -> list[str]:
    return [c.request.url for c in responses.calls]


@responses.activate
def test_mapping_select_and_delta_field_win_over_the_connector_defaults():
    responses.add(responses.GET, ACCOUNTS, json={"value": [
        {"@odata.etag": 'W/"7"', "accountid": "a1", "modifiedon": "2024-03-01T09:00:05Z"}],
        "@odata.nextLink": ACCOUNTS + "?$skiptoken=p2"})
    responses.add(responses.GET, ACCOUNTS, json={"value": [{"accountid": "a2", "modifiedon": "2024-03-01T09:00:03Z"}]})
    batches = list(conn().read(MAPPING_STREAM, {"since": "2024-03-01T10:00:00+01:00"}))
    # since - 300 s overlap, `ge`: a row committed late at the watermark is read again, not lost.
    assert urls() == [
        ACCOUNTS + "?$select=accountid,accountnumber,name,accountclassificationcode,address1_country,modifiedon"
                   "&$filter=modifiedon%20ge%202024-03-01T08:55:00Z&$orderby=modifiedon,accountid",
        ACCOUNTS + "?$skiptoken=p2"]
    assert responses.calls[0].request.headers["Prefer"] == "odata.maxpagesize=2"
    assert [b.records for b in batches] == [[{"accountid": "a1", "modifiedon": "2024-03-01T09:00:05Z",
                                              "@odata.etag": 'W/"7"'}],
                                            [{"accountid": "a2", "modifiedon": "2024-03-01T09:00:03Z"}]]
    # The checkpoint is kept in the UTC form, so it compares with what Dataverse returns.
    assert [b.checkpoint for b in batches] == [
        {"version": 1, "since": "2024-03-01T09:00:00Z", "high": "2024-03-01T09:00:05Z",
         "position": ACCOUNTS + "?$skiptoken=p2"},
        {"version": 1, "since": "2024-03-01T09:00:05Z"}]


@responses.activate
def test_delta_field_names_another_column_and_null_reads_in_full():
    responses.add(responses.GET, ACCOUNTS, json={"value": []})
    responses.add(responses.GET, ACCOUNTS, json={"value": []})
    list(conn().read(StreamSpec("accounts", ["accountid"], options={
        "select": ["name"], "delta_field": "new_segmentchangedon"}), {"since": "2024-03-01T09:05:00.250Z"}))
    list(conn().read(StreamSpec("accounts", ["accountid"], options={"select": ["name"], "delta_field": None}),
                     {"since": "2024-03-01T09:00:00Z"}))
    assert urls() == [
        ACCOUNTS + "?$select=accountid,name,new_segmentchangedon"
                   "&$filter=new_segmentchangedon%20ge%202024-03-01T09:00:00Z"
                   "&$orderby=new_segmentchangedon,accountid",
        ACCOUNTS + "?$select=accountid,name&$orderby=accountid"]


@responses.activate
def test_without_stream_options_the_tables_entry_is_the_default():
    responses.add(responses.GET, ACCOUNTS, json={"value": []})
    [batch] = list(conn().read(StreamSpec("accounts"), {"since": "2024-03-01T09:00:00Z"}))
    assert urls() == [ACCOUNTS + "?$select=accountid,accountnumber,modifiedon"
                                 "&$filter=modifiedon%20ge%202024-03-01T08:55:00Z&$orderby=modifiedon,accountid"]
    assert batch.checkpoint == {"version": 1, "since": "2024-03-01T09:00:00Z"}


@responses.activate
def test_an_entity_set_without_a_tables_entry_reads_from_the_mapping_alone():
    responses.add(responses.GET, ACCOUNTS, json={"value": []})
    list(conn(tables={}).read(MAPPING_STREAM, None))
    assert urls() == [ACCOUNTS + "?$select=accountid,accountnumber,name,accountclassificationcode,"
                                 "address1_country,modifiedon&$orderby=modifiedon,accountid"]
    with pytest.raises(FatalError, match="no table 'accounts'; configured: \n  hint: add it under tables:"):
        list(conn(tables={}).read(StreamSpec("accounts", ["accountid"]), None))


@responses.activate
@pytest.mark.parametrize(("options", "state", "message"), [
    ({"select": ["name", "name eq 'x'"]}, None, "\"name eq 'x'\" is not a valid logical name"),
    ({"select": ["name"], "delta_field": "ModifiedOn"}, None, "'ModifiedOn' is not a valid logical name"),
    ({"select": ["name"]}, {"since": "2024-03-01 or 1 eq 1"}, "the saved checkpoint is not one segbridge wrote"),
    ({"selct": ["name"]}, None, "option selct: Extra inputs are not permitted"),
])
def test_bad_names_and_checkpoints_stop_before_any_request(options, state, message):
    from basics.errors import SegbridgeError

    with pytest.raises(SegbridgeError, match=message):
        list(conn().read(StreamSpec("accounts", ["accountid"], options=options), state))
    assert urls() == []


@responses.activate
def test_high_water_mark_compares_instants_not_text():
    responses.add(responses.GET, ACCOUNTS, json={"value": [
        {"accountid": "a1", "modifiedon": "2024-03-01T09:00:05.5Z"}, {"accountid": "a2", "modifiedon": None},
        {"accountid": "a3", "modifiedon": "2024-03-01T11:00:04+02:00"}]})
    [batch] = list(conn().read(StreamSpec("accounts"), {"since": "2024-03-01T09:00:05Z"}))
    assert batch.checkpoint == {"version": 1, "since": "2024-03-01T09:00:05.500000Z"}


@responses.activate
def test_the_same_next_link_twice_is_a_loop_not_a_thousand_requests():
    responses.add(responses.GET, ACCOUNTS, json={"value": [{"accountid": "a1"}],
                                                 "@odata.nextLink": ACCOUNTS + "?$skiptoken=p2"})
    responses.add(responses.GET, ACCOUNTS, json={"value": [{"accountid": "a2"}],
                                                 "@odata.nextLink": ACCOUNTS + "?$skiptoken=p2"})
    with pytest.raises(FatalError, match="same page position twice"):
        list(conn().read(StreamSpec("accounts"), None))
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize(("body", "content_type", "says"), [
    ("<html><body>Sign in to your account</body></html>", "text/html", "not JSON; the body begins '<html>"),
    ("", "application/json", "not JSON; the body is empty"),
    ('{"value": [{"accountid": "00', "application/json", "not JSON; the body begins '{\"value\": [{\"acc"),
    ("null", "application/json", "JSON NoneType, not a collection; the body begins 'null'"),
    ('{"value": {"accountid": "a1"}}', "application/json", "no `value` list"),
])
def test_a_malformed_page_fails_the_stream_naming_entity_set_url_status_and_body(body, content_type, says):
    responses.add(responses.GET, ACCOUNTS, body=body, status=200, content_type=content_type)
    with pytest.raises(FatalError) as err:
        list(conn().read(StreamSpec("accounts"), None))
    text = str(err.value)
    assert text.startswith(f"dynamics365: accounts: GET {ACCOUNTS}?$select=") and "HTTP 200" in text, text
    assert says.replace('\\"', '"') in text, text


@responses.activate
def test_without_select_or_a_tables_entry_the_mapping_fields_are_the_select():
    responses.add(responses.GET, ACCOUNTS, json={"value": []})
    list(conn(tables={}).read(StreamSpec("accounts", ["accountid"], fields=["accountid", "name"]), None))
    assert urls() == [ACCOUNTS + "?$select=accountid,name,modifiedon&$orderby=modifiedon,accountid"]


def test_the_write_batch_default_is_the_batch_maximum_and_no_connector_batch_size():
    assert DynamicsConnector.write_batch_max == 1000
    assert "batch_size" not in DynamicsConnector.Options.model_fields


# --------------------------------------------------------------------------- conditional writes


def _batch_reply(*parts: tuple[int, str]) -> tuple[int, dict, str]:
    """A multipart $batch answer: one (status, JSON body) per request."""
    body = "".join(f"--r\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                   f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n{text}\r\n" for status, text in parts)
    return 200, {"Content-Type": "multipart/mixed; boundary=r"}, body + "--r--\r\n"


def _patch_headers(body: bytes) -> list[str]:
    return [line for line in body.decode().split("\r\n") if line.startswith("If-Match:")]


@responses.activate
def test_write_sends_the_items_etag_as_if_match_and_star_without_one():
    responses.add_callback(responses.POST, BASE + "/api/data/v9.2/$batch",
                           callback=lambda req: _batch_reply((204, ""), (204, "")))
    items = [WriteItem("1", "accounts", {"accountid": GUID1}, {"accountnumber": "A"}, etag='W/"42"'),
             WriteItem("2", "accounts", {"accountid": GUID2}, {"accountnumber": "B"})]
    outcomes = conn().write(WriteBatch(items))
    assert [o.status for o in outcomes] == ["applied", "applied"]
    assert _patch_headers(responses.calls[0].request.body) == ['If-Match: W/"42"', "If-Match: *"]


@responses.activate
def test_a_412_is_a_conflict_naming_the_record():
    error = '{"error": {"code": "0x80060882", "message": "The version of the existing record doesn\'t match."}}'
    responses.add_callback(responses.POST, BASE + "/api/data/v9.2/$batch",
                           callback=lambda req: _batch_reply((412, error)))
    [out] = conn().write(WriteBatch([WriteItem("1", "accounts", {"accountid": GUID1}, {"accountnumber": "A"},
                                               etag='W/"41"')]))
    assert (out.status, out.http_status, out.etag) == (OutcomeStatus.CONFLICT, 412, None)
    assert GUID1 in out.message and 'W/"41"' in out.message and "doesn't match" in out.message


@responses.activate
def test_read_back_gives_the_odata_etag_as_etag_and_raises_on_errors_other_than_404():
    responses.get(f"{ACCOUNTS}({GUID1})", json={"@odata.context": "x", "@odata.etag": 'W/"9"',
                                                 "accountid": GUID1, "accountnumber": "A"})
    responses.get(f"{ACCOUNTS}({GUID2})", status=404, json={"error": {"message": "Does Not Exist"}})
    assert conn().read_back("accounts", [{"accountid": GUID1}, {"accountid": GUID2}]) == [
        {"accountid": GUID1, "accountnumber": "A", "__etag": 'W/"9"'}]
    responses.get(f"{ACCOUNTS}({GUID3})", status=400, json={"error": {"message": "bad"}})
    with pytest.raises(FatalError):
        conn().read_back("accounts", [{"accountid": GUID3}])


def _patch_bodies(body: bytes) -> list[dict]:
    import json

    return [json.loads(line) for line in body.decode().split("\r\n") if line.startswith("{")]


@responses.activate
def test_choice_columns_are_written_as_integers_and_text_stays_text():
    """The outbox holds text; Dataverse's choice columns (`*code`, Edm.Int32) refuse "1" with 400."""
    responses.add_callback(responses.POST, BASE + "/api/data/v9.2/$batch",
                           callback=lambda req: _batch_reply((204, ""), (204, "")))
    tables = {"accounts": {"key": "accountid", "fields": ["accountnumber"],
                           "types": {"creditlimit": "number", "donotemail": "bool", "statecode": "text"}}}
    items = [WriteItem("1", "accounts", {"accountid": GUID1}, {"accountclassificationcode": "100000003",
                                                                "accountnumber": "00123", "statecode": "0"}),
             WriteItem("2", "accounts", {"accountid": GUID2}, {"creditlimit": "1500.5", "donotemail": "true",
                                                                "industrycode": "A-X"})]
    conn(tables).write(WriteBatch(items))
    assert _patch_bodies(responses.calls[0].request.body) == [
        {"accountclassificationcode": 100000003, "accountnumber": "00123", "statecode": "0"},
        {"creditlimit": 1500.5, "donotemail": True, "industrycode": "A-X"}]  # not an integer: sent, Dataverse says why


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_an_authentication_refusal_stops_the_apply(status):
    """A refused $batch (401/403) raises AuthError: nothing is marked rejected, nothing more is sent."""
    responses.add(responses.POST, BASE + "/api/data/v9.2/$batch", status=status,
                  json={"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}})
    with pytest.raises(AuthError):
        conn().write(WriteBatch([WriteItem("1", "accounts", {"accountid": GUID1}, {"accountnumber": "A"})]))
    assert len(responses.calls) == 1


@responses.activate
def test_a_part_refused_for_authorisation_stops_the_apply():
    error = '{"error": {"code": "0x80040220", "message": "Principal user is missing prvWriteAccount privilege"}}'
    responses.add_callback(responses.POST, BASE + "/api/data/v9.2/$batch",
                           callback=lambda req: _batch_reply((403, error)))
    with pytest.raises(AuthError, match="missing prvWriteAccount privilege"):
        conn().write(WriteBatch([WriteItem("1", "accounts", {"accountid": GUID1}, {"accountnumber": "A"})]))


@responses.activate
def test_a_request_level_400_puts_the_message_on_each_item():
    responses.add(responses.POST, BASE + "/api/data/v9.2/$batch", status=400,
                  json={"error": {"code": "0x80048d19", "message": "bad batch"}})
    outcomes = conn().write(WriteBatch([WriteItem(str(i), "accounts", {"accountid": g}, {"accountnumber": "A"})
                                        for i, g in enumerate((GUID1, GUID2))]))
    assert [o.status for o in outcomes] == ["rejected", "rejected"]
    assert all("HTTP 400" in o.message and "bad batch" in o.message for o in outcomes)
    assert len(responses.calls) == 1


@responses.activate
def test_a_refused_saved_next_link_reads_again_from_the_checkpoint():
    """A skip token the service no longer honours (400) on a resumed read restarts from since - overlap."""
    stale = ACCOUNTS + "?$skiptoken=gone"
    responses.add(responses.GET, stale, status=400, json={"error": {"code": "0x80060888", "message": "invalid skiptoken"}})
    responses.add(responses.GET, ACCOUNTS, json={"value": [{"accountid": "a1", "modifiedon": "2024-03-01T09:30:00Z"}]})
    state = {"version": 1, "since": "2024-03-01T09:00:00Z", "high": "2024-03-01T09:10:00Z", "position": stale}
    batches = list(conn().read(MAPPING_STREAM, state))
    assert urls()[0] == stale
    assert "modifiedon%20ge%202024-03-01T08:55:00Z" in urls()[1]
    assert batches[-1].checkpoint == {"version": 1, "since": "2024-03-01T09:30:00Z"}


@responses.activate
def test_a_400_on_a_fresh_read_is_an_error_not_a_restart():
    responses.add(responses.GET, ACCOUNTS, status=400, json={"error": {"message": "bad $filter"}})
    with pytest.raises(FatalError, match="bad \\$filter"):
        list(conn().read(MAPPING_STREAM, None))
    assert len(responses.calls) == 1
