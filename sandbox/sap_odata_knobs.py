"""What real SAP Gateways do that the SAP OData stand-in can be told to do: malformed answers, and
delta links with tombstones for entity sets with change tracking.

- Malformed 200 answers (`state.malform(kind, path, times)`): a logon page in HTML, an empty body,
  a JSON cut mid-transfer, `null`, a JSON without the `d` envelope, a `results` that is not a list.
- Delta links (`state.track_changes(set, ...)`): the last page of a read carries
  `__delta: ".../Set?!deltatoken='<n>'"`; following it returns the entities changed since (their
  current values) and, for deleted ones, tombstones `{"@odata.context": "$metadata#Set/$deletedEntity",
  "id": "<entity URI>"}`, then a new delta link (help.sap.com "Delta Query Support"; the JSON shape of
  Apache Olingo V2's delta responses). An unknown token is 400, as an expired one is on SAP.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from sandbox.server import Request, Response

MALFORMED = {
    "html": (200, b"<html><head><title>Logon</title></head><body>SAP NetWeaver logon</body></html>", "text/html"),
    "empty": (200, b"", "application/json"),
    "truncated": (200, b'{"d":{"results":[{"Product":"TG0', "application/json"),
    "null": (200, b"null", "application/json"),
    "no_d": (200, b'{"results":[]}', "application/json"),
    "results_not_list": (200, b'{"d":{"results":{"Product":"TG01"}}}', "application/json"),
}


def malformed_answer(state: Any, req: Request) -> Response | None:
    """A malformed 200 answer queued with `state.malform(...)`, for a GET whose path matches."""
    if req.method != "GET":
        return None
    with state.lock:
        for n, (kind, path, times) in enumerate(state.malformed):
            if re.search(path, req.path):
                state.malformed[n] = (kind, path, times - 1)
                state.malformed = [m for m in state.malformed if m[2] > 0]
                status, body, ctype = MALFORMED[kind]
                return Response(status, body, {"Content-Type": ctype})
    return None


def delta_link(base_url: str, es: Any, state: Any) -> str:
    """The link that reads what changes after now (the change log's current length as the token)."""
    return f"{base_url}/{es.name}?!deltatoken='{len(state.changes)}'"


def delta_answer(handler: Any, es: Any, query: dict[str, str], select: list[str] | None) -> Response:
    """A delta link's answer: entities changed since the token (current values), tombstones for the
    deleted ones, and the next delta link."""
    state, token = handler.state, query["!deltatoken"].strip("'")
    if not token.isdigit() or int(token) > len(state.changes):
        return handler.error(400, "/IWBEP/CM_MGW_RT/050", f"Delta token '{token}' is invalid or expired")
    latest: dict[tuple, bool] = {}
    for _, service, name, key, deleted in state.changes[int(token):]:
        if (service, name) == (handler.service, es.name):
            latest[key] = deleted
    results = []
    for key, deleted in latest.items():
        entity = state.data.get((handler.service, es.name), {}).get(key)
        if deleted or entity is None:
            pred = ",".join(f"{k}='{quote(str(v), safe='')}'" for k, v in zip(es.keys, key, strict=True))
            results.append({"@odata.context": f"$metadata#{es.name}/$deletedEntity",
                            "id": f"{handler.base_url}/{es.name}({pred})"})
        else:
            results.append(handler.to_json(es, entity, select, []))
    return Response.json({"d": {"results": results, "__delta": delta_link(handler.base_url, es, state)}})
