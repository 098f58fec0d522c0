"""The `reconcile:` section of segbridge.yaml: tolerances, stewards, severities, cross-system checks.

Example:

    reconcile:
      tolerances:
        number: {abs: 0.001, rel: 0.0}          # default for values that parse as numbers
        text: {ignore_case: false, ignore_whitespace: true}
        fields:                                  # per field: "system.entity.field", "entity.field" or "field"
          SafetyStockQuantity: {type: number, abs: 0.5}
          sap.A_Customer.CustomerClassification: {type: code, code_map: {"0A": A}}
      stewards:                                  # owner per system and entity ("*" = any)
        sap: {"*": sap-mdm@example.com, A_Customer: sales-ops@example.com}
        "*": {"*": data-steward@example.com}
      severity:                                  # first match wins; unmatched kinds use the defaults
        - {kind: value_mismatch, system: sap, field: SafetyStockQuantity, severity: high}
      cross_system:
        - name: customer_segment
          entity: customer
          systems:
            salesforce: {entity: Account, field: Segment__c}
            wms: {entity: customer, field: segment, code_map: {"1": A, "2": B, "3": C}}
      completeness: {max_quarantine_share: 0.02}
      alerts: {max_open: 50, max_new: 10}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from basics.yaml_loader import StrictModel, register_kind
from core.settings import SegbridgeConfig, register_section

Kind = Literal["value_mismatch", "cross_system", "completeness", "orphan", "conflict", "writeback_conflict"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER = ["low", "medium", "high", "critical"]
DEFAULT_SEVERITY: dict[str, str] = {"value_mismatch": "medium", "cross_system": "medium", "completeness": "high",
                                    "orphan": "medium", "conflict": "high",
                                    "writeback_conflict": "high"}  # a person's edit was kept, the plan's not written


class NumberTolerance(StrictModel):
    abs: float = Field(0.001, ge=0, description="Absolute difference still counted as equal")
    rel: float = Field(0.0, ge=0, description="Relative difference (share of the expected value) still equal")


class TextTolerance(StrictModel):
    ignore_case: bool = Field(False, description="'Gold' equals 'GOLD'")
    ignore_whitespace: bool = Field(True, description="Leading/trailing blanks ignored, inner runs collapsed")


class FieldTolerance(StrictModel):
    """How one field compares; unset values fall back to the type's defaults."""

    type: Literal["auto", "number", "text", "code"] = Field("auto", description="auto: number when both parse")
    abs: float | None = Field(None, ge=0)
    rel: float | None = Field(None, ge=0)
    ignore_case: bool | None = None
    ignore_whitespace: bool | None = None
    code_map: dict[str, str] = Field(default_factory=dict, description="Value -> equivalent value, both sides")


class Tolerances(StrictModel):
    number: NumberTolerance = Field(default_factory=NumberTolerance)
    text: TextTolerance = Field(default_factory=TextTolerance)
    fields: dict[str, FieldTolerance] = Field(default_factory=dict)

    def rule(self, system: str, entity: str, field: str) -> FieldTolerance:
        """The most specific rule: system.entity.field, entity.field, field, else the defaults."""
        for key in (f"{system}.{entity}.{field}", f"{entity}.{field}", field):
            if key in self.fields:
                return self.fields[key]
        return FieldTolerance()


class SeverityRule(StrictModel):
    kind: Kind | None = None
    system: str | None = None
    entity: str | None = None
    field: str | None = None
    severity: Severity


class CrossSystemField(StrictModel):
    entity: str = Field(description="Target entity of the system, as in the reverse map (e.g. Account)")
    field: str = Field(description="Target field holding the value (e.g. Segment__c)")
    code_map: dict[str, str] = Field(default_factory=dict, description="System code -> common value")


class CrossSystemCheck(StrictModel):
    name: str
    entity: str = Field(description="Canonical entity compared: customer, product or product_location")
    systems: dict[str, CrossSystemField] = Field(min_length=2)
    ignore_case: bool = True
    severity: Severity | None = None


class CompletenessConfig(StrictModel):
    enabled: bool = True
    max_quarantine_share: float | None = Field(None, ge=0, le=1,
                                               description="Default: quality.max_quarantine_share")


class AlertThresholds(StrictModel):
    max_open: int | None = Field(None, ge=0, description="Alert when more exceptions are open")
    max_new: int | None = Field(None, ge=0, description="Alert when a run files more new exceptions")
    min_severity: Severity = Field("high", description="Alert on any new exception at least this severe")


class ReconcileConfig(StrictModel):
    """reconcile: section"""

    tolerances: Tolerances = Field(default_factory=Tolerances)
    stewards: dict[str, dict[str, str]] = Field(default_factory=dict,
                                                description="system -> entity -> owner ('*' for any)")
    severity: list[SeverityRule] = Field(default_factory=list)
    cross_system: list[CrossSystemCheck] = Field(default_factory=list)
    completeness: CompletenessConfig = Field(default_factory=CompletenessConfig)
    alerts: AlertThresholds = Field(default_factory=AlertThresholds)
    auto_resolve: bool = Field(True, description="Resolve open exceptions a later run no longer observes")

    def owner(self, system: str | None, entity: str | None) -> str | None:
        """The steward for (system, entity): exact, then system '*', then '*' entity, then '*' '*'."""
        for sys_key, ent_key in ((system, entity), (system, "*"), ("*", entity), ("*", "*")):
            owner = self.stewards.get(sys_key or "", {}).get(ent_key or "")
            if owner:
                return owner
        return None

    def severity_for(self, kind: str, system: str | None, entity: str | None, field: str | None) -> str:
        """First matching severity rule, else the kind's default."""
        for rule in self.severity:
            if all(want is None or want == got for want, got in
                   ((rule.kind, kind), (rule.system, system), (rule.entity, entity), (rule.field, field))):
                return rule.severity
        return DEFAULT_SEVERITY.get(kind, "medium")


register_section("reconcile", ReconcileConfig)
register_kind("reconcile", ReconcileConfig)


def reconcile_config(config: SegbridgeConfig) -> ReconcileConfig:
    """The validated reconcile section (file:line errors when it is wrong)."""
    return config.section("reconcile", ReconcileConfig)
