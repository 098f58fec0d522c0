"""A zeep Transport that loads WSDLs offline and sends through segbridge's one HTTP client.

Why not zeep's own Transport:
- Oracle EBS ISG WSDLs `<include>` their XSDs by absolute `http://host:8005/...` URLs, so they never
  load offline; `schema_map` (URL prefix -> local file or folder) and `schema_dir` (by file name)
  point those URLs at vendored copies, and any other remote load is refused.
- zeep turns an HTML 503 page from a gateway into "Unknown fault occured". Here a 429/5xx whose
  body is not a SOAP envelope raises RetriableError before zeep parses anything (the HttpClient
  has already retried 429/502/503/504 with backoff and Retry-After by then).
- zeep's `timeout` only covers loading the WSDL; `operation_timeout` bounds every SOAP call.
- A 200 (or a fault) that is not a well-formed SOAP envelope, or that declares a DTD, is refused
  here with the URL, status and first bytes (oracle_answers.check_soap_body), not by a zeep or lxml
  traceback.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests
from zeep.transports import Transport

from connectors.connector_errors import AuthError, FatalError, RateLimited, RetriableError
from connectors.http.client import HttpClient
from connectors.oracle.oracle_answers import bad_answer, check_soap_body

log = logging.getLogger("segbridge.oracle.soap")
_LOCATION = re.compile(rb'((?:schemaLocation|location)\s*=\s*")(https?://[^"]+)(")')


class SoapTransport(Transport):
    """zeep Transport over an HttpClient: local schema loading, typed transient errors."""

    def __init__(self, http: HttpClient, *, schema_map: dict[str, str] | None = None,
                 schema_dir: str | Path | None = None, operation_timeout: float = 60.0,
                 load_timeout: float = 30.0):
        super().__init__(session=http.session, timeout=load_timeout, operation_timeout=operation_timeout)
        self.http = http
        self.schema_map = dict(schema_map or {})
        self.schema_dir = Path(schema_dir) if schema_dir else None
        self.last: requests.Response | None = None

    # ------------------------------------------------------------------ loading WSDL/XSD

    def local_path(self, url: str) -> Path | None:
        """The vendored copy of a remote schema URL, or None when no rule maps it."""
        for prefix in sorted(self.schema_map, key=len, reverse=True):
            if url.startswith(prefix):
                target = Path(self.schema_map[prefix])
                rest = url[len(prefix):].lstrip("/")
                return target / rest if target.is_dir() and rest else target
        if self.schema_dir is not None:
            candidate = self.schema_dir / Path(urlsplit(url).path).name
            if candidate.is_file():
                return candidate
        return None

    def load(self, url: str) -> bytes:
        """Read a local WSDL/XSD and point its mapped absolute schema URLs at the local copies.

        zeep runs with forbid_external=True, so a remote URL left unmapped is refused by zeep
        itself; only the rewritten file:// locations load."""
        if url.startswith(("http://", "https://")):
            path = self.local_path(url)
            if path is None:
                raise FatalError(f"WSDL/XSD at {url} has no local copy; refusing to fetch it over the network",
                                 hint="vendor the file and add its URL prefix to schema_map, or put it in schema_dir")
        else:
            path = Path(url[len("file://"):] if url.startswith("file://") else url).expanduser()
        if not path.is_file():
            raise FatalError(f"WSDL/XSD {url} -> {path}: no such file")
        return _LOCATION.sub(self._relocate, path.read_bytes())

    def _relocate(self, match: re.Match) -> bytes:
        url = match.group(2).decode()
        path = self.local_path(url)
        if path is None or not path.is_file():  # e.g. a soap:address; zeep refuses unmapped imports
            return match.group(0)
        return match.group(1) + path.resolve().as_uri().encode() + match.group(3)

    # ------------------------------------------------------------------ calls

    def post(self, address: str, message: bytes | str, headers: dict) -> requests.Response:
        """POST an envelope; 429/5xx without a SOAP envelope raise RetriableError/RateLimited, an
        answer that is not a SOAP envelope (or declares a DTD) raises FatalError."""
        resp = self.http.request("POST", address, data=message, headers=headers,
                                 timeout=(self.http.options.connect_timeout, self.operation_timeout),
                                 raise_for_status=False)
        self.last = resp  # the connector names its status in errors raised after zeep parsed it
        self.check_status(resp)
        return resp

    @staticmethod
    def check_status(resp: requests.Response) -> None:
        status = resp.status_code
        if status < 400 or (status == 500 and is_soap_envelope(resp)):
            if status in (200, 500):  # an answer or a fault (HTTP 500), zeep's to parse once it is sound
                check_soap_body(resp)
            return
        where = f"SOAP POST {resp.url}: HTTP {status}"
        if status == 429:
            raise RateLimited(where, hint="the service throttles; the run can resume later")
        if status >= 500:
            raise RetriableError(f"{where} (not a SOAP response: {resp.headers.get('Content-Type', '?')})",
                                 hint="a gateway or the service is unavailable; retry later")
        if status in (401, 403):
            raise AuthError(where, hint="check the WS-Security user and its password environment variable")
        raise bad_answer(resp, "the SOAP service refused the request")


def is_soap_envelope(resp: requests.Response) -> bool:
    ctype = resp.headers.get("Content-Type", "")
    return "xml" in ctype and b"Envelope" in resp.content[:2000]
