"""`$batch` for the SAP OData sandbox: GETs alone, each changeset all-or-nothing, per-part answers.

Like SAP Gateway, a changeset whose request fails is rolled back and answered by that one error
response; the batch goes on with the next part, so one bad item never hides the others' outcomes.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.sap.batch import boundary_of, split_multipart
from sandbox.server import Request, Response


def single_query(query: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in query.items() if v}


def _inner_request(raw: bytes) -> tuple[str, str, dict[str, str], dict[str, str], bytes]:
    """Method, path, query, headers and body of an `application/http` part's payload."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    head, _, body = raw.lstrip(b"\r\n").partition(sep)
    lines = head.decode("utf-8").splitlines()
    method, target, _version = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)}
    parts = urlsplit(target)
    query = single_query(parse_qs(parts.query, keep_blank_values=True))
    return method.upper(), unquote(parts.path), query, headers, body.rstrip(b"\r\n")


def _part_headers(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, _, payload = raw.partition(b"\r\n\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in head.decode("utf-8").splitlines() if ":" in line)}
    return headers, payload


def _http_part(resp: Response, content_id: str | None = None) -> str:
    reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
              405: "Method Not Allowed", 412: "Precondition Failed", 428: "Precondition Required"}.get(resp.status, "")
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {resp.status} {reason}", f"Content-Length: {len(resp.body)}", "dataserviceversion: 2.0"]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n" + resp.body.decode("utf-8") + "\r\n"


def run_batch(handler: Any, req: Request) -> Response:
    """Execute a `$batch`: GETs alone; each changeset all-or-nothing; a failed changeset answers alone."""
    try:
        parts = split_multipart(req.body, boundary_of(req.header("content-type")))
    except Exception as exc:  # noqa: BLE001 - any framing problem is the client's 400
        return handler.error(400, "/IWBEP/CM_MGW_RT/030", f"Invalid $batch request: {exc}")
    boundary = f"batchresponse_{uuid.uuid4()}"
    out = []
    for raw in parts:
        headers, payload = _part_headers(raw)
        ctype = headers.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            out.append(_changeset(handler, split_multipart(payload, boundary_of(ctype))))
            continue
        method, rel, query, inner_headers, body = _inner_request(payload)
        if method != "GET":
            resp = handler.error(400, "/IWBEP/CM_MGW_RT/031", "Modifying requests must be inside a changeset")
        else:
            resp = handler.execute(method, rel, query, inner_headers, body)
        out.append(_http_part(resp))
    body = "".join(f"--{boundary}\r\n{p}" for p in out) + f"--{boundary}--\r\n"
    return Response(202, body.encode("utf-8"), {"Content-Type": f"multipart/mixed; boundary={boundary}"})


def _changeset(handler: Any, raws: list[bytes]) -> str:
    """All requests of a changeset or none: on the first failure undo the others, answer the failure alone."""
    answers = []
    with handler.state.lock:
        handler.journal = []
        try:
            for raw in raws:
                headers, payload = _part_headers(raw)
                method, rel, query, inner_headers, body = _inner_request(payload)
                if method == "GET":
                    resp = handler.error(400, "/IWBEP/CM_MGW_RT/031", "GET is not allowed inside a changeset")
                else:
                    resp = handler.execute(method, rel, query, inner_headers, body)
                if resp.status >= 400:
                    for entity, before in reversed(handler.journal):
                        entity.clear()
                        entity.update(before)
                    return _http_part(resp)
                answers.append(_http_part(resp, headers.get("content-id")))
        finally:
            handler.journal = None
    cs = f"changesetresponse_{uuid.uuid4()}"
    inner = "".join(f"--{cs}\r\n{a}" for a in answers) + f"--{cs}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={cs}\r\n\r\n{inner}"
