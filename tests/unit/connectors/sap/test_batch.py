"""$batch multipart: the exact request body, and per-part parsing of SAP-shaped answers."""

from __future__ import annotations

import pytest

from connectors.connector_errors import FatalError
from connectors.sap.batch import Part, build_batch, parse_batch, split_multipart

pytestmark = pytest.mark.unit

ANSWER = (
    b"--batchresp_1\r\n"
    b"Content-Type: multipart/mixed; boundary=csresp_1\r\n\r\n"
    b"--csresp_1\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\ndataserviceversion: 2.0\r\n\r\n\r\n"
    b"--csresp_1--\r\n"
    b"--batchresp_1\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
    b'{"error":{"code":"00/058","message":{"lang":"en","value":"Entry ZZ does not exist in T438A (check entry)"}}}\r\n'
    b"--batchresp_1\r\n"
    b"Content-Type: multipart/mixed; boundary=csresp_3\r\n\r\n"
    b"--csresp_3\r\n"
    b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\nETag: W/\"datetimeoffset'2024'\"\r\n\r\n\r\n"
    b"--csresp_3--\r\n"
    b"--batchresp_1--\r\n"
)


def test_build_batch_one_changeset_per_item_exact_body():
    body, ctype = build_batch([[Part("PATCH", "A_Customer('1')", body={"CustomerClassification": "A"},
                                     headers={"If-Match": 'W/"x"'})]],
                              reads=[Part("GET", "A_Customer('2')")], boundary="batch_b1")
    assert ctype == "multipart/mixed; boundary=batch_b1"
    assert body.decode() == (
        "--batch_b1\r\n"
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "GET A_Customer('2') HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
        "--batch_b1\r\n"
        "Content-Type: multipart/mixed; boundary=changeset_b1_1\r\n\r\n"
        "--changeset_b1_1\r\n"
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        "PATCH A_Customer('1') HTTP/1.1\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
        "Content-Length: 30\r\nIf-Match: W/\"x\"\r\n\r\n"
        '{"CustomerClassification":"A"}\r\n'
        "--changeset_b1_1--\r\n"
        "--batch_b1--\r\n")


def test_parse_batch_reports_every_part_even_after_a_failure():
    results = parse_batch("multipart/mixed; boundary=batchresp_1", ANSWER)
    assert [[r.status for r in part] for part in results] == [[204], [400], [204]]
    assert results[1][0].json()["error"]["code"] == "00/058"
    assert results[2][0].header("ETag") == "W/\"datetimeoffset'2024'\""
    assert results[0][0].ok and not results[1][0].ok


def test_parse_batch_round_trips_its_own_request_shape():
    body, ctype = build_batch([[Part("PATCH", "X('1')", body={"A": "1"})], [Part("PATCH", "X('2')", body={})]])
    parts = split_multipart(body, ctype.split("boundary=")[1])
    assert len(parts) == 2
    assert b"PATCH X('2') HTTP/1.1" in parts[1]


def test_not_multipart_is_a_clear_error():
    with pytest.raises(FatalError, match="not multipart"):
        parse_batch("text/html", b"<html>login</html>")
