"""OData V2 `$batch`: build a multipart/mixed request and parse the per-part responses.

One changeset per write item keeps SAP's all-or-nothing unit to that item, so one bad item
fails only its own changeset and every other part still reports its own outcome. Retrieve
requests (GET) travel outside changesets. A changeset that fails comes back as a single
`application/http` response instead of a nested multipart, which the parser accepts.

Example:
    >>> body, ctype = build_batch([[Part("PATCH", "A_Customer('1')", body={"CustomerClassification": "A"})]])
    >>> results = parse_batch(resp.headers["Content-Type"], resp.content)     # doctest: +SKIP
    >>> results[0][0].status
    204
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from connectors.connector_errors import FatalError

CRLF = "\r\n"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS = re.compile(r"HTTP/\d\.\d\s+(\d{3})\s*(.*)")


@dataclass
class Part:
    """One request inside a batch; `path` is relative to the service root."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class PartResponse:
    """One response inside a batch answer."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body.strip() else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _http_part(part: Part, content_id: int | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{part.method} {part.path} HTTP/1.1", "Accept: application/json"]
    payload = ""
    if part.body is not None:
        payload = json.dumps(part.body, separators=(",", ":"))
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload.encode('utf-8'))}"]
    lines += [f"{k}: {v}" for k, v in part.headers.items()]
    return CRLF.join(lines) + CRLF + CRLF + payload + CRLF


def build_batch(changesets: list[list[Part]], reads: list[Part] | None = None,
                boundary: str | None = None) -> tuple[bytes, str]:
    """The body and Content-Type of a `$batch` request: reads first, then one changeset each."""
    boundary = boundary or f"batch_{uuid.uuid4().hex}"
    chunks: list[str] = []
    for read in reads or []:
        chunks.append(f"--{boundary}{CRLF}{_http_part(read, None)}")
    for n, changeset in enumerate(changesets, start=1):
        cs = f"changeset_{boundary[6:] if boundary.startswith('batch_') else boundary}_{n}"
        inner = "".join(f"--{cs}{CRLF}{_http_part(p, i)}" for i, p in enumerate(changeset, start=1))
        chunks.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={cs}{CRLF}{CRLF}"
                      f"{inner}--{cs}--{CRLF}")
    body = "".join(chunks) + f"--{boundary}--{CRLF}"
    return body.encode("utf-8"), f"multipart/mixed; boundary={boundary}"


def boundary_of(content_type: str | None) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise FatalError(f"$batch answer is not multipart (Content-Type {content_type!r})",
                         hint="the gateway may have answered with an error page; check the request log")
    return match.group(1)


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between `--boundary` delimiters (preamble and epilogue dropped)."""
    delimiter = b"--" + boundary.encode()
    pieces = re.split(rb"(?:\r?\n)?" + re.escape(delimiter) + rb"(--)?[ \t]*\r?\n?", body)
    parts, closed = [], False
    # re.split with a group interleaves the captured close marker: [pre, g, p1, g, p2, g, epilogue]
    for i in range(2, len(pieces), 2):
        if pieces[i - 1] == b"--":
            closed = True
            break
        parts.append(pieces[i])
    if not closed and not parts:
        raise FatalError("$batch answer has no parts for its boundary")
    return parts


def _split_head(data: bytes) -> tuple[dict[str, str], bytes]:
    match = re.search(rb"\r?\n\r?\n", data)
    if not match:
        head, rest = data, b""
    else:
        head, rest = data[:match.start()], data[match.end():]
    headers = {}
    for line in head.decode("utf-8", errors="replace").splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    return headers, rest


def _http_response(data: bytes) -> PartResponse:
    text_start = data.lstrip(b"\r\n")
    first, _, rest = text_start.partition(b"\n")
    match = _STATUS.match(first.decode("utf-8", errors="replace").strip())
    if not match:
        raise FatalError(f"$batch part is not an HTTP response: {first[:80]!r}")
    headers, body = _split_head(rest)
    return PartResponse(int(match.group(1)), match.group(2).strip(), headers, body.rstrip(b"\r\n"))


def parse_batch(content_type: str | None, body: bytes) -> list[list[PartResponse]]:
    """Per top-level part, its responses: a changeset's list (one per request) or a single one.

    A failed changeset is one response standing for all of that changeset's requests."""
    results: list[list[PartResponse]] = []
    for raw in split_multipart(body, boundary_of(content_type)):
        headers, payload = _split_head(raw)
        ctype = headers.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            inner = split_multipart(payload, boundary_of(ctype))
            results.append([_http_response(_split_head(p)[1]) for p in inner])
        else:
            results.append([_http_response(payload)])
    return results
