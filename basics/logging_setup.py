"""Logging for people (rich) or machines (`--json-logs`), with every secret redacted.

Every handler carries `RedactionFilter`, which replaces any value resolved from an
`${ENV_VAR}` reference (or registered at runtime, like an OAuth token) with `***`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from basics import secrets


class RedactionFilter(logging.Filter):
    """Rewrites the message so no known secret value leaves the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = secrets.redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event", "run_id", "kind", "system", "trigger", "status", "counts", "stream", "plan_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["error"] = secrets.redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def setup_logging(json_logs: bool = False, verbose: int = 0, stream=None) -> None:
    """Configure the `segbridge` loggers once per process (CLI entry)."""
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    stream = stream or sys.stderr
    if json_logs:
        handler: logging.Handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        level = min(level, logging.INFO)
    else:
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(file=stream), show_path=False, rich_tracebacks=False)
    handler.addFilter(RedactionFilter())
    for name in ("segbridge", "core", "connectors", "scheduler", "sandbox"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
