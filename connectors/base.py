"""The connector interface every system adapter implements (modelled on singer-sdk's hooks).

A connector knows one protocol. It reads raw records in bounded batches with checkpoints,
writes batches returning one outcome per item, and reads back targets for reconciliation.
It knows nothing of mapping or planning: `core.sync` maps what `read` yields, and
`core.writeback` builds the `WriteItem`s it is asked to `write`.

Example:
    >>> conn = registry.create("csv_folder", {"path": "data/"})           # doctest: +SKIP
    >>> for batch in conn.read(StreamSpec(name="order_lines.csv"), state=None):
    ...     print(len(batch.records), batch.checkpoint)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel

from basics.yaml_loader import StrictModel
from connectors.connector_errors import (  # noqa: F401 - the interface's errors, re-exported for core
    AuthError,
    ConnectorError,
    FatalError,
    LimitExhausted,
    RateLimited,
    RetriableError,
)


class OutcomeStatus(StrEnum):
    """What a system answered for one WriteItem (core turns it into the outbox change's state)."""

    APPLIED = "applied"
    """The system accepted and holds the values."""
    REJECTED = "rejected"
    """The system refused the item for good (validation, missing record); resending will not help."""
    RETRIABLE = "retriable"
    """A temporary failure (throttling, timeout, lock); the item may be sent again."""
    CONFLICT = "conflict"
    """The record changed in the system since the plan read it (HTTP 412 on If-Match, or a value
    that differs from what the plan saw); not written, so a person's later edit stays."""


@dataclass
class CheckResult:
    """Reachability and auth, as a result; bad credentials are `ok=False`, never an exception."""

    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StreamSpec:
    """One readable (and maybe writable) stream: an entity set, a table, an endpoint."""

    name: str
    primary_key: list[str] = field(default_factory=list)
    cursor_field: str | None = None
    writable: bool = False
    writable_fields: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    """The source fields the mapping reads (keys included; `to_Nav/Prop` for navigation paths), so a
    connector can ask for only those ($select, SOQL's field list). Empty: the connector's own list."""


@dataclass
class RecordBatch:
    """Raw records of one page plus the checkpoint that is safe to save once they are stored."""

    records: list[dict[str, Any]]
    checkpoint: dict[str, Any] | None = None
    source_count: int | None = None  # total the source reports ($inlinecount, totalSize), if any


@dataclass
class WriteItem:
    """One target record's changed fields. `ref` is the caller's id (e.g. PlannedChange ids)."""

    ref: str
    target: str
    key: dict[str, Any]
    values: dict[str, Any]
    etag: str | None = None


@dataclass
class ItemOutcome:
    """What happened to one WriteItem."""

    ref: str
    status: OutcomeStatus
    message: str | None = None
    etag: str | None = None
    http_status: int | None = None

    def __post_init__(self) -> None:
        self.status = OutcomeStatus(self.status)  # connectors may pass the plain string; unknown ones fail here


@dataclass
class WriteBatch:
    items: list[WriteItem]


def refuse_connector_batch_size(data: Any, kind: str, maximum: int, what: str) -> None:
    """An options validator's check: the write batch is one setting, core's `write.batch_size`, so a
    connector-level `batch_size` (kept by earlier versions) is refused saying where it went."""
    if isinstance(data, dict) and "batch_size" in data:
        raise ValueError(f"batch_size is not a {kind} option: the write batch is systems.<name>.write.batch_size "
                         f"(default and maximum {maximum}, {what}); move it there")


class Connector(ABC):
    """Base class. Subclasses set `kind`, `Options` (a pydantic model) and implement the hooks."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = StrictModel
    StreamOptions: ClassVar[type[BaseModel]] = StrictModel
    """The keys a mapping's `source.options` may hold for this connector (validated by `segbridge
    validate` with file:line and "did you mean"); the empty default accepts none."""
    write_batch_max: ClassVar[int | None] = None
    """Most items one write request may carry, as the system documents it (Salesforce Collections 200,
    Dataverse $batch 1000, ...). The default write batch of a system is this; a smaller
    `systems.<name>.write.batch_size` overrides it, a larger one is refused by `validate`."""
    description: ClassVar[str] = ""

    def __init__(self, options: BaseModel | dict[str, Any], name: str | None = None):
        self.options = options if isinstance(options, BaseModel) else self.Options.model_validate(options)
        self.name = name or self.kind

    def stream_options(self, stream: StreamSpec) -> Any:
        """The stream's options as this connector's typed `StreamOptions` (unknown keys refused)."""
        from pydantic import ValidationError

        from basics.errors import ConfigError

        try:
            return self.StreamOptions.model_validate(stream.options or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{self.name}: stream {stream.name!r} option {where}: {err['msg']}",
                              hint="run `segbridge validate` to see the mapping file and line") from None

    @abstractmethod
    def check(self) -> CheckResult:
        """Can we reach the system and authenticate? Never raises on bad credentials."""

    @abstractmethod
    def discover(self) -> list[StreamSpec]:
        """Streams with primary key, cursor field and writability."""

    @abstractmethod
    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """Yield bounded batches; each carries the checkpoint covering it and what came before."""

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        """Write a batch; one outcome per item, in order. Read-only connectors refuse.

        Where `WriteItem.etag` is set and the system supports it, the write is conditional on it; the
        system's refusal (HTTP 412) is `CONFLICT` with `http_status=412`, never re-read or re-sent here:
        the core decides what to do (it reads the record again next round)."""
        return [ItemOutcome(i.ref, "rejected", f"{self.kind} connector is read-only") for i in batch.items]

    def read_back(self, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Current values of the given target records (missing ones omitted), for reconciliation and
        for the core's read-before-write.

        Each record holds its current field values and, where the system has a concurrency token for
        it, that token under the key `"__etag"` (SAP `__metadata.etag`, Dataverse `@odata.etag`, the
        Fusion `ETag` header). The core passes it back as `WriteItem.etag`; `write` sends it as the
        system's conditional header (If-Match) so a record changed since this read is refused
        (`OutcomeStatus.CONFLICT`) instead of overwritten. Systems without a token omit `__etag`."""
        raise NotImplementedError(f"{self.kind} connector cannot read back {target}")

    def requests_sent(self) -> int | None:
        """HTTP (or RPC) requests this connector really sent so far, retries and token requests
        included, for the CLI's counts; None where it does not count them. HTTP connectors return
        their HttpClient's `attempts`."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and sockets (a no-op for connectors that hold none)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
