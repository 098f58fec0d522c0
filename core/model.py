"""The canonical model: every table segbridge keeps, in one place.

Input side (filled by `core.sync` from the mapping files): products, locations,
product-locations, customers and their sales areas, suppliers, order lines, shipments and
their lines, purchase receipts, on-hand snapshots, and the key crosswalk. Every input row carries `source_system` and
`loaded_at` for lineage.

Output side (filled by the engine, write-back and reconciliation): runs, segment
assignments, parameter values, overrides, plans and planned changes (the outbox),
reconciliation exceptions, audit events, sync state (watermarks), quarantine, per-run
entity counts and scheduler leases.

Ids: master data uses the canonical id as a string primary key (`Product.id`). The
crosswalk maps (system, entity, source_key) -> canonical_id; source keys are kept exactly
as the system writes them (SAP's leading zeros included).

Example:
    >>> from core.model import Product, CANONICAL_ENTITIES
    >>> "product" in CANONICAL_ENTITIES
    True
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.statuses import ChangeState, ExceptionStatus, PlanStatus, RunStatus, Trigger


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC."""
    return datetime.now(UTC)


class Lineage(SQLModel):
    """Columns every canonical input row carries."""

    source_system: str = Field(default="", max_length=64, description="System the row was loaded from")
    loaded_at: datetime = Field(default_factory=utcnow, description="When the row was (re)loaded")


# --------------------------------------------------------------------------- master data


class Product(Lineage, table=True):
    __tablename__ = "product"
    id: str = Field(primary_key=True, max_length=80, description="Canonical product id")
    name: str | None = Field(default=None)
    category: str | None = Field(default=None, max_length=80)
    product_group: str | None = Field(default=None, max_length=80)
    base_uom: str | None = Field(default=None, max_length=16)
    unit_cost: float | None = Field(default=None, description="Standard cost per base unit")
    unit_price: float | None = Field(default=None, description="List price per base unit")
    weight_kg: float | None = Field(default=None)
    created_on: date | None = Field(default=None, description="Creation date in the source system")
    status: str | None = Field(default=None, max_length=32, description="Lifecycle status code in the source")


class Location(Lineage, table=True):
    __tablename__ = "location"
    id: str = Field(primary_key=True, max_length=80, description="Canonical location id (plant, DC, warehouse)")
    name: str | None = Field(default=None)
    kind: str | None = Field(default=None, max_length=32, description="plant | dc | warehouse | store")
    country: str | None = Field(default=None, max_length=8)
    region: str | None = Field(default=None, max_length=80)


class ProductLocation(Lineage, table=True):
    """A product stocked at a location: master planning data and the values the source holds now."""

    __tablename__ = "product_location"
    product_id: str = Field(primary_key=True, max_length=80)
    location_id: str = Field(primary_key=True, max_length=80)
    lead_time_days: float | None = Field(default=None, description="Planned replenishment lead time")
    lead_time_std_days: float | None = Field(default=None, description="Lead-time standard deviation")
    moq: float | None = Field(default=None, description="Minimum order quantity")
    order_multiple: float | None = Field(default=None, description="Rounding value / lot multiple")
    unit_cost: float | None = Field(default=None)
    supplier_id: str | None = Field(default=None, max_length=80)
    # What the source system holds now (read back / pulled), used to diff the plan.
    current_abc: str | None = Field(default=None, max_length=16)
    current_segment: str | None = Field(default=None, max_length=32)
    current_safety_stock: float | None = Field(default=None)
    current_reorder_point: float | None = Field(default=None)
    current_min_qty: float | None = Field(default=None)
    current_max_qty: float | None = Field(default=None)
    current_mrp_type: str | None = Field(default=None, max_length=32)
    current_lot_sizing: str | None = Field(default=None, max_length=32)
    current_service_level: float | None = Field(default=None)
    current_picking_priority: str | None = Field(default=None, max_length=16)
    current_velocity_class: str | None = Field(default=None, max_length=16)
    etag: str | None = Field(default=None, max_length=200, description="Source ETag at last read")


class Customer(Lineage, table=True):
    __tablename__ = "customer"
    id: str = Field(primary_key=True, max_length=80, description="Canonical customer id")
    name: str | None = Field(default=None)
    country: str | None = Field(default=None, max_length=8)
    region: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=80)
    external_id: str | None = Field(default=None, max_length=80, description="Id carried by other systems")
    current_classification: str | None = Field(default=None, max_length=16)
    current_segment: str | None = Field(default=None, max_length=32)
    current_service_level: str | None = Field(default=None, max_length=32)
    etag: str | None = Field(default=None, max_length=200)


class CustomerSalesArea(Lineage, table=True):
    """SAP-style sales-area data (sales org, channel, division) and the values held there."""

    __tablename__ = "customer_sales_area"
    customer_id: str = Field(primary_key=True, max_length=80)
    sales_org: str = Field(primary_key=True, max_length=16)
    distribution_channel: str = Field(primary_key=True, max_length=16)
    division: str = Field(primary_key=True, max_length=16)
    customer_group: str | None = Field(default=None, max_length=16)
    currency: str | None = Field(default=None, max_length=8)
    current_abc: str | None = Field(default=None, max_length=16)
    current_delivery_priority: str | None = Field(default=None, max_length=32)
    current_shipping_condition: str | None = Field(default=None, max_length=32)
    current_customer_group_1: str | None = Field(default=None, max_length=32)
    current_customer_group_2: str | None = Field(default=None, max_length=32)
    etag: str | None = Field(default=None, max_length=200)


class Supplier(Lineage, table=True):
    __tablename__ = "supplier"
    id: str = Field(primary_key=True, max_length=80)
    name: str | None = Field(default=None)
    country: str | None = Field(default=None, max_length=8)


# --------------------------------------------------------------------------- transactions


class OrderLine(Lineage, table=True):
    __tablename__ = "order_line"
    # Written a million rows at a time and read whole by the engine: every secondary index costs load
    # throughput (product+location alone halved it) and no query of segbridge uses one; see migration 0003.
    __table_args__ = (Index("ix_order_line_date", "order_date"),)
    order_id: str = Field(primary_key=True, max_length=80)
    line_no: str = Field(primary_key=True, max_length=16)
    customer_id: str | None = Field(default=None, max_length=80)
    product_id: str = Field(max_length=80)
    location_id: str | None = Field(default=None, max_length=80)
    order_date: date
    requested_date: date | None = Field(default=None)
    quantity: float = Field(description="Ordered quantity in the product's base unit")
    uom: str | None = Field(default=None, max_length=16)
    net_value: float | None = Field(default=None, description="Net line value in `currency`")
    cost: float | None = Field(default=None, description="Cost of goods for the line")
    currency: str | None = Field(default=None, max_length=8)
    rejected: bool = Field(default=False, description="Rejected or cancelled: excluded from demand")
    promotion: bool = Field(default=False, description="Promotion-driven line")
    sales_org: str | None = Field(default=None, max_length=16)
    changed_at: datetime | None = Field(default=None, description="Last change in the source")


class Shipment(Lineage, table=True):
    __tablename__ = "shipment"
    __table_args__ = (Index("ix_shipment_customer", "customer_id"),)
    shipment_id: str = Field(primary_key=True, max_length=80)
    customer_id: str | None = Field(default=None, max_length=80)
    order_id: str | None = Field(default=None, max_length=80)
    location_id: str | None = Field(default=None, max_length=80, description="Ship-from location")
    mode: str | None = Field(default=None, max_length=32, description="TL | LTL | PARCEL | AIR | OCEAN | RAIL")
    carrier: str | None = Field(default=None, max_length=80)
    ship_date: date | None = Field(default=None)
    delivery_date: date | None = Field(default=None)
    freight_cost: float | None = Field(default=None)
    currency: str | None = Field(default=None, max_length=8)
    weight_kg: float | None = Field(default=None)


class ShipmentLine(Lineage, table=True):
    """Quantity of one order line that left (and arrived) with a shipment: partial deliveries are several
    rows of one order line. Fill rate and OTIF "in full" need it (core.kpis.service_kpis); where no
    source gives lines, an order-level `shipment` counts every line of its order as shipped in full."""

    __tablename__ = "shipment_line"
    shipment_id: str = Field(primary_key=True, max_length=80, description="Shipment (or delivery) the line left with")
    line_no: str = Field(primary_key=True, max_length=40, description="Line of the shipment (e.g. the pick's id)")
    order_id: str = Field(max_length=80, description="Order the shipped quantity fills")
    order_line_no: str = Field(max_length=16, description="Line of that order (order_line.line_no)")
    product_id: str | None = Field(default=None, max_length=80)
    location_id: str | None = Field(default=None, max_length=80, description="Ship-from location")
    quantity: float = Field(description="Shipped quantity in the product's base unit")
    ship_date: date | None = Field(default=None)
    delivery_date: date | None = Field(default=None, description="Arrival at the customer, where known")


class Receipt(Lineage, table=True):
    """A purchase-order receipt: promised vs actual date gives lead-time variability."""

    __tablename__ = "receipt"
    __table_args__ = (Index("ix_receipt_product_location", "product_id", "location_id"),)
    po_id: str = Field(primary_key=True, max_length=80)
    line_no: str = Field(primary_key=True, max_length=16)
    product_id: str = Field(max_length=80)
    location_id: str | None = Field(default=None, max_length=80)
    supplier_id: str | None = Field(default=None, max_length=80)
    order_date: date | None = Field(default=None)
    promised_date: date | None = Field(default=None)
    receipt_date: date | None = Field(default=None)
    quantity: float | None = Field(default=None)


class InventorySnapshot(Lineage, table=True):
    """On-hand of a product-location on a date (ERP/WMS stock report or CSV): turns, days of supply,
    excess and stockout value need it (core.kpis.inventory_kpis); without it they are reported unavailable."""

    __tablename__ = "inventory_snapshot"
    product_id: str = Field(primary_key=True, max_length=80)
    location_id: str = Field(primary_key=True, max_length=80)
    snapshot_date: date = Field(primary_key=True, description="Day the quantity was counted (end of day)")
    on_hand: float = Field(description="Unrestricted stock on hand in the product's base unit")
    unit_cost: float | None = Field(default=None, description="Cost per base unit on that day, if the source has it")


class Crosswalk(SQLModel, table=True):
    """(system, entity, source key) -> canonical id. Source keys exactly as the system writes them."""

    __tablename__ = "crosswalk"
    __table_args__ = (Index("ix_crosswalk_canonical", "entity", "canonical_id"),)
    system: str = Field(primary_key=True, max_length=64)
    entity: str = Field(primary_key=True, max_length=64)
    source_key: str = Field(primary_key=True, max_length=200)
    canonical_id: str = Field(max_length=80)
    rule: str | None = Field(default=None, max_length=64, description="Match rule that produced the link")
    loaded_at: datetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- runs and quality


class Run(SQLModel, table=True):
    """One run of a step (pull, segment, plan, apply, reconcile) or of the whole cycle."""

    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, description="pull | segment | plan | apply | reconcile | cycle")
    system: str | None = Field(default=None, max_length=64)
    status: str = Field(default=RunStatus.RUNNING, max_length=32, description="core.statuses.RunStatus")
    trigger: str = Field(default=Trigger.MANUAL, max_length=32, description="core.statuses.Trigger")
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = Field(default=None)
    ruleset_hash: str | None = Field(default=None, max_length=80)
    parent_run_id: int | None = Field(default=None, description="Run this one derives from")
    suspect: bool = Field(default=False, description="Data-quality threshold crossed: write-back blocked")
    released_by: str | None = Field(default=None, max_length=80)
    release_reason: str | None = Field(default=None)
    counts: str | None = Field(default=None, sa_column=Column(Text), description="JSON counts")
    message: str | None = Field(default=None, sa_column=Column(Text))
    owner: str | None = Field(default=None, max_length=80, description="host:pid:uuid of the process that ran it")


class EntityCount(SQLModel, table=True):
    """Per-run, per-entity data-quality counts."""

    __tablename__ = "entity_count"
    run_id: int = Field(primary_key=True)
    system: str = Field(primary_key=True, max_length=64)
    entity: str = Field(primary_key=True, max_length=64)
    source_count: int | None = Field(default=None, description="Count the source reported (e.g. $inlinecount)")
    read: int = 0
    loaded: int = 0
    quarantined: int = 0


class Quarantine(SQLModel, table=True):
    """A record that failed mapping or quality checks, kept whole with its reason."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_run", "run_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None)
    system: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    source_key: str | None = Field(default=None, max_length=200)
    reason_code: str = Field(max_length=64, description="missing_key | bad_type | negative | duplicate | ...")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    record: str = Field(sa_column=Column(Text, nullable=False), description="The raw record as JSON")
    created_at: datetime = Field(default_factory=utcnow)


class SyncState(SQLModel, table=True):
    """Watermark per (system, stream, partition), saved in the same transaction as its records."""

    __tablename__ = "sync_state"
    system: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=128)
    partition: str = Field(default="", primary_key=True, max_length=128)
    state: str = Field(sa_column=Column(Text, nullable=False), description="JSON checkpoint")
    updated_at: datetime = Field(default_factory=utcnow)
    run_id: int | None = Field(default=None)


# --------------------------------------------------------------------------- engine output


class SegmentAssignment(SQLModel, table=True):
    """One dimension's class for one entity in one run (long format: abc, xyz, pattern, ...)."""

    __tablename__ = "segment_assignment"
    __table_args__ = (Index("ix_segment_entity", "entity", "entity_key"),)
    run_id: int = Field(primary_key=True)
    entity: str = Field(primary_key=True, max_length=32, description="product | product_location | customer")
    entity_key: str = Field(primary_key=True, max_length=200, description="e.g. 'P1' or 'P1|DC1'")
    dimension: str = Field(primary_key=True, max_length=32, description="abc | xyz | pattern | lifecycle | segment")
    value: str = Field(max_length=32)
    metric: float | None = Field(default=None, description="The measure behind the class")
    source: str = Field(default="rule", max_length=16, description="rule | override | hysteresis")


class ParameterValue(SQLModel, table=True):
    """One planning parameter or routing flag for one entity in one run."""

    __tablename__ = "parameter_value"
    __table_args__ = (Index("ix_parameter_entity", "entity", "entity_key"),)
    run_id: int = Field(primary_key=True)
    entity: str = Field(primary_key=True, max_length=32)
    entity_key: str = Field(primary_key=True, max_length=200)
    name: str = Field(primary_key=True, max_length=64, description="safety_stock | reorder_point | transport_mode ...")
    value_num: float | None = Field(default=None)
    value_text: str | None = Field(default=None, max_length=80)


class Override(SQLModel, table=True):
    """A steward-approved pin of an entity to a segment or a parameter value."""

    __tablename__ = "override"
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=32)
    entity_key: str = Field(max_length=200)
    name: str = Field(max_length=64, description="A dimension (abc, segment, ...) or a parameter name")
    value: str = Field(max_length=80)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    requested_by: str = Field(max_length=80)
    approved_by: str | None = Field(default=None, max_length=80)
    expires_on: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)
    active: bool = True


# --------------------------------------------------------------------------- write-back


class Plan(SQLModel, table=True):
    __tablename__ = "plan"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, description="Segment run the plan derives from")
    kind: str = Field(default="normal", max_length=16, description="normal | rollback")
    status: str = Field(default=PlanStatus.DRAFT, max_length=32, description="core.statuses.PlanStatus")
    created_at: datetime = Field(default_factory=utcnow)
    planned_by: str | None = Field(default=None, max_length=80,
                                   description="Who made the plan (OS user of the CLI or scheduler, or the web "
                                   "app's logged-in user); None for plans made before it was recorded")
    approved_by: str | None = Field(default=None, max_length=80, description="The authenticated approver")
    approved_at: datetime | None = Field(default=None)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    summary: str | None = Field(default=None, sa_column=Column(Text), description="JSON summary")


class PlannedChange(SQLModel, table=True):
    """The outbox: one field of one target record, with its state."""

    __tablename__ = "planned_change"
    __table_args__ = (
        UniqueConstraint("plan_id", "system", "entity", "target_key", "field", name="uq_change_target"),
        Index("ix_change_state", "plan_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int
    system: str = Field(max_length=64)
    entity: str = Field(max_length=64, description="Target entity, e.g. A_ProductSupplyPlanning")
    target_key: str = Field(max_length=400, description="JSON of the target's source key fields")
    field: str = Field(max_length=80)
    current_value: str | None = Field(default=None, max_length=200)
    intended_value: str | None = Field(default=None, max_length=200)
    value_impact: float | None = Field(default=None, description="Currency impact (e.g. safety-stock value)")
    state: str = Field(default=ChangeState.PENDING, max_length=16, description="core.statuses.ChangeState")
    attempts: int = 0
    batch_id: str | None = Field(default=None, max_length=80)
    message: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(default_factory=utcnow)
    review: str | None = Field(default=None, max_length=16, description="approved | rejected by a reviewer, per line")
    reviewed_by: str | None = Field(default=None, max_length=80)
    version: int = Field(default=1, description="Raised by every review; a stale review is refused (web app)")


# --------------------------------------------------------------------------- reconciliation and audit


class ReconException(SQLModel, table=True):
    """A difference for a data steward. One record per fingerprint across runs."""

    __tablename__ = "recon_exception"
    # The steward queue's first page: newest first, optionally by status (migration 0007).
    __table_args__ = (Index("ix_exception_queue", "last_seen", "id"),
                      Index("ix_exception_status_queue", "status", "last_seen", "id"))
    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32, description="value_mismatch | cross_system | completeness | orphan | conflict | writeback_conflict")
    severity: str = Field(default="medium", max_length=16, description="low | medium | high | critical")
    system: str | None = Field(default=None, max_length=64)
    entity: str | None = Field(default=None, max_length=64)
    entity_key: str | None = Field(default=None, max_length=400)
    field: str | None = Field(default=None, max_length=80)
    expected: str | None = Field(default=None, max_length=400)
    actual: str | None = Field(default=None, max_length=400)
    owner: str | None = Field(default=None, max_length=80)
    status: str = Field(default=ExceptionStatus.OPEN, max_length=16, description="core.statuses.ExceptionStatus")
    reason: str | None = Field(default=None, sa_column=Column(Text))
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    count: int = 1
    run_id: int | None = Field(default=None)
    version: int = Field(default=1, description="Raised by every change; a stale update is refused (web app)")


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_key"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(default="segbridge", max_length=80)
    action: str = Field(max_length=64, description="segment_change | parameter_change | apply | release | ...")
    entity: str | None = Field(default=None, max_length=64)
    entity_key: str | None = Field(default=None, max_length=400)
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    run_id: int | None = Field(default=None)


class KpiValue(SQLModel, table=True):
    """One KPI of one segment in one period, computed for a segment run (core.kpis, docs/kpis.md).

    `segment` is a product segment, a customer segment (`customer:<segment>`), a class of a
    dimension for migration rows, or `all`; `scope` narrows it further (a system, `system/entity`, a
    dimension, `from->to`), empty when not needed; `period` is the ISO start date of a week or month,
    or `all` for whole-window or point-in-time values. A KPI that cannot be computed keeps a row with
    value None and a `note` saying why (e.g. no on-hand data), so "unavailable" is stored, not guessed."""

    __tablename__ = "kpi_value"
    run_id: int = Field(primary_key=True, description="The segment run the KPIs judge")
    segment: str = Field(primary_key=True, max_length=80)
    kpi: str = Field(primary_key=True, max_length=64)
    period: str = Field(primary_key=True, max_length=16)
    scope: str = Field(default="", primary_key=True, max_length=160)
    value: float | None = Field(default=None)
    numerator: float | None = Field(default=None)
    denominator: float | None = Field(default=None)
    note: str | None = Field(default=None, max_length=200)
    computed_at: datetime = Field(default_factory=utcnow)


class Lease(SQLModel, table=True):
    """A database lease per step so two processes never run the same step at once."""

    __tablename__ = "lease"
    name: str = Field(primary_key=True, max_length=128)
    owner: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


# --------------------------------------------------------------------------- web app (users, sessions, comments)


class AppUser(SQLModel, table=True):
    """A local user of the web app and API, with one role (`core.accounts.Role`)."""

    __tablename__ = "app_user"
    name: str = Field(primary_key=True, max_length=80)
    role: str = Field(max_length=16, description="viewer | planner | steward | approver | admin")
    password_hash: str | None = Field(default=None, sa_column=Column(Text), description="argon2 hash; None: no password login")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A token for automation: only its SHA-256 is kept; the token is shown once when created."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_name: str = Field(max_length=80)
    label: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow)
    revoked: bool = False


class WebSession(SQLModel, table=True):
    """A logged-in browser: the cookie holds a random id, the store its SHA-256 and the CSRF token."""

    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(max_length=80)
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class ExceptionComment(SQLModel, table=True):
    """A steward's or planner's note on an exception."""

    __tablename__ = "exception_comment"
    __table_args__ = (Index("ix_comment_exception", "exception_id"),)
    id: int | None = Field(default=None, primary_key=True)
    exception_id: int
    at: datetime = Field(default_factory=utcnow)
    author: str = Field(max_length=80)
    text: str = Field(sa_column=Column(Text, nullable=False))


# Canonical input entities by the name mapping files use for `target:`.
CANONICAL_ENTITIES: dict[str, type[SQLModel]] = {
    "product": Product,
    "location": Location,
    "product_location": ProductLocation,
    "customer": Customer,
    "customer_sales_area": CustomerSalesArea,
    "supplier": Supplier,
    "order_line": OrderLine,
    "shipment": Shipment,
    "shipment_line": ShipmentLine,
    "receipt": Receipt,
    "inventory_snapshot": InventorySnapshot,
}


def primary_key_columns(model: type[SQLModel]) -> list[str]:
    """Names of a table model's primary-key columns, in declaration order."""
    return [c.name for c in model.__table__.primary_key.columns]


def canonical_fields(entity: str) -> dict[str, type]:
    """Field name -> python annotation for a canonical entity (raises KeyError listing the valid names)."""
    try:
        model = CANONICAL_ENTITIES[entity]
    except KeyError:
        raise KeyError(f"unknown canonical entity {entity!r}; valid: {', '.join(sorted(CANONICAL_ENTITIES))}") from None
    return {name: f.annotation for name, f in model.model_fields.items()}
