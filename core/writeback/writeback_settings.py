"""The `writeback:` section of segbridge.yaml: guardrails, tolerances, batch sizes, retries.

Example:

    writeback:
      guardrails:
        max_class_change_share: 0.2          # > 20 % of items changing class -> needs approval
        max_safety_stock_value_increase_pct: 10
        approval_required: false
      tolerances:
        safety_stock: {absolute: 0.5}        # canonical name, target field, entity.field or system.entity.field
        sap.A_ProductSupplyPlanning.ReorderThresholdQuantity: {relative: 0.01}
        ServiceLevel: {decimals: 1}
      max_attempts: 5
      four_eyes: true                        # the planner may not approve their own plan
"""

from __future__ import annotations

from pydantic import Field, field_validator

from basics.yaml_loader import StrictModel, register_kind
from core.settings import DEFAULT_WRITE_BATCH, SegbridgeConfig, register_section

CLASS_FIELDS = ["abc", "segment", "velocity_class", "customer_abc", "customer_segment", "classification",
                "picking_priority", "service_level_class"]


class Tolerance(StrictModel):
    """When two numeric values count as equal: rounded to `decimals`, then within absolute or relative."""

    absolute: float | None = Field(None, ge=0, description="Equal when |a - b| <= absolute")
    relative: float | None = Field(None, ge=0, description="Equal when |a - b| <= relative * |current|")
    decimals: int | None = Field(None, ge=0, le=12, description="Round both sides to this many places first")


class Guardrails(StrictModel):
    """Limits beyond which a plan needs a person's approval before it may be applied."""

    max_class_change_share: float = Field(0.2, ge=0, le=1, description="Share of items whose class changes")
    class_fields: list[str] = Field(default_factory=lambda: list(CLASS_FIELDS),
                                    description="Canonical names that count as a class (abc, segment, ...)")
    max_safety_stock_value_increase_pct: float = Field(
        10.0, ge=0, description="Safety-stock value (quantity x unit cost) may rise at most this many percent")
    approval_required: bool = Field(False, description="Every plan needs approval")


class WritebackConfig(StrictModel):
    """writeback: section."""

    guardrails: Guardrails = Field(default_factory=Guardrails)
    tolerances: dict[str, Tolerance] = Field(default_factory=dict,
                                             description="Per field: canonical name, target field, "
                                             "entity.field or system.entity.field (most specific wins)")
    batch_size: dict[str, int] = Field(default_factory=dict, description="Replaced by "
                                       "systems.<name>.write.batch_size (refused with where to move it)")
    value_fields: list[str] = Field(default_factory=lambda: ["safety_stock"],
                                    description="Canonical quantities whose change is valued at unit cost")
    max_attempts: int = Field(5, ge=1, le=100, description="Tries of a retriable item before it fails")
    retry_backoff_seconds: float = Field(0.5, ge=0, le=60, description="Wait per attempt before a retry round")
    out_dir: str = Field("plans", description="Folder for plan CSV/JSON exports (relative to the config)")
    four_eyes: bool = Field(True, description="A plan that needs approval must be approved by someone other "
                            "than the user who made it")

    def tolerance(self, system: str, entity: str, field: str, source: str | None) -> Tolerance | None:
        """The most specific tolerance configured for a field, or None (exact comparison)."""
        for key in (f"{system}.{entity}.{field}", f"{entity}.{field}", field, source):
            if key and key in self.tolerances:
                return self.tolerances[key]
        return None

    @field_validator("batch_size")
    @classmethod
    def _moved(cls, value: dict[str, int]) -> dict[str, int]:
        """One write batch setting per system, not two: the old per-system override is refused, saying
        where each value goes."""
        if value:
            moves = "; ".join(f"systems.{name}.write.batch_size: {size}" for name, size in value.items())
            raise ValueError("writeback.batch_size is replaced by systems.<name>.write.batch_size (one setting "
                             f"per system, default the system's documented maximum); move it: {moves}")
        return value

    def batch_size_of(self, config: SegbridgeConfig, system: str) -> int:
        """Items per write request for a system (see `write_batch_size`)."""
        return write_batch_size(config, system)


register_section("writeback", WritebackConfig)
register_kind("writeback", WritebackConfig)


def write_batch_limit(kind: str) -> tuple[int | None, str]:
    """The connector kind's documented write maximum and where it is declared (for messages)."""
    from connectors import registry

    cls = registry.get(kind)
    return cls.write_batch_max, f"{cls.__module__}.{cls.__qualname__}.write_batch_max"


def write_batch_size(config: SegbridgeConfig, system: str) -> int:
    """Items per write request for a system: `systems.<name>.write.batch_size` when set, else the
    connector's `write_batch_max` (the system's documented maximum), else DEFAULT_WRITE_BATCH."""
    sc = config.system(system)
    if sc.write.batch_size is not None:
        return sc.write.batch_size
    maximum, _ = write_batch_limit(sc.kind)
    return maximum or DEFAULT_WRITE_BATCH


def check_write_batches(config: SegbridgeConfig) -> None:
    """`segbridge validate`: a configured write batch larger than the system's documented maximum is
    refused at its line, naming the maximum and where it is declared."""
    from basics.errors import ConfigError
    from basics.yaml_loader import document_of

    doc, problems = document_of(config), []
    for name, sc in config.systems.items():
        maximum, source = write_batch_limit(sc.kind)
        size = sc.write.batch_size
        if size is not None and maximum is not None and size > maximum:
            loc = ("systems", name, "write", "batch_size")
            where = doc.where(loc) if doc else ".".join(loc)
            problems.append(f"{where}: systems.{name}.write.batch_size: {size} is more than {sc.kind}'s "
                            f"documented maximum of {maximum} items per write request ({source})")
    if problems:
        raise ConfigError("\n".join(problems), hint="lower the value, or remove it to use the maximum")


def writeback_config(config: SegbridgeConfig | None) -> WritebackConfig:
    """The validated writeback section (defaults when there is no config)."""
    if config is None:
        return WritebackConfig()
    return config.section("writeback", WritebackConfig)
