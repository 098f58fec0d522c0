"""Pydantic models of a mapping file (`mappings/*.yaml`), registered as the `mapping` YAML kind.

A mapping file says, per system and entity, how source records become canonical rows
(`fields`, forward) and how canonical values go back to the source (`reverse`). It is data:
the engine (`core.mapping.mapper`) and reverse formatter (`core.mapping.reverse`) interpret it.

Example (one entity):

    system: sap_s4
    entities:
      product:
        source: {kind: odata_entity_set, name: A_Product, service: API_PRODUCT_SRV}
        target: product
        key: [Product]
        fields:
          id: {from: Product, transforms: [required, alpha_strip]}
          base_uom: BaseUnit
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from basics.yaml_loader import StrictModel, register_kind
from core.mapping.shared_reads import lead_sources
from core.model import CANONICAL_ENTITIES

SourceKind = Literal["odata_entity_set", "rfc_table", "soap_operation", "rest_stream", "sql_table", "csv_file"]
# A transform step: "name" or {name: params} (params a mapping, or one scalar for the first parameter).
Step = str | dict[str, Any]


def _to_rule(value: Any) -> Any:
    """`field: SourceName` is shorthand for `field: {from: SourceName}`."""
    if isinstance(value, str | list):
        return {"from": value}
    return value


class Source(StrictModel):
    """Where records come from; connectors read `kind`, `name` and `options`."""

    kind: SourceKind
    name: str = Field(description="Entity set, table, operation, stream, SQL table or CSV file name")
    service: str | None = Field(default=None, description="OData service / SOAP service / REST resource path")
    expand: dict[str, str] = Field(default_factory=dict,
                                   description="OData navigation -> entity set, for fields read as 'to_Nav/Prop'")
    options: dict[str, Any] = Field(default_factory=dict, description="Connector options (select, filter, query...)")


class NumberFormat(StrictModel):
    """How a system writes numbers as text, for systems that send localized numbers (German CSV
    exports: `1.234,5`). Declared on a field, an entity or the whole file (the nearest wins, as a
    whole); read by the one number parser, `core.mapping.numeric`. Without one, the dot is the
    decimal point and a comma only an unmistakable thousands separator (docs/mapping.md, "Numbers")."""

    decimal: Literal[".", ","] = Field(default=".", description="Decimal separator")
    thousands: Literal[",", ".", " ", "'"] | None = Field(
        default=None, description="Thousands separator, in groups of three (' ' also reads no-break spaces); "
                                  "none: grouping is refused")

    @model_validator(mode="after")
    def _distinct(self) -> NumberFormat:
        if self.thousands == self.decimal:
            other = "," if self.decimal == "." else "."
            raise ValueError(f"decimal and thousands separators are both {self.decimal!r}: a number could not be "
                             f"read; declare decimal: {other!r} (or another thousands separator)")
        return self


class FieldRule(StrictModel):
    """One canonical field: where it comes from and the transforms applied in order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str | list[str] | None = Field(default=None, alias="from",
                                           description="Source field; a list builds a composite value")
    sep: str = Field(default="|", description="Separator of a composite (list) source")
    transforms: list[Step] = Field(default_factory=list)
    number_format: NumberFormat | None = Field(default=None, description="How this field's numbers are written "
                                                                         "(default: the entity's, then the file's)")
    description: str | None = None


class ReverseField(StrictModel):
    """One target field written back: from a canonical field or parameter, formatted for the target."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str = Field(alias="from", description="Canonical field or parameter name (e.g. safety_stock, abc)")
    transforms: list[Step] = Field(default_factory=list)
    read_back: str | None = Field(default=None,
                                  description="Canonical field where the written value comes back on the next pull")


class ReverseMap(StrictModel):
    """Write-back target: entity, key fields (formatted from canonical keys) and fields."""

    entity: str = Field(description="Target entity, e.g. A_ProductSupplyPlanning")
    key: dict[str, ReverseField] = Field(description="Target key field -> canonical key field")
    fields: dict[str, ReverseField]

    @field_validator("key", "fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"from": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value


class QualityRules(StrictModel):
    """Record-level checks beyond field transforms, and the run threshold for this entity."""

    non_negative: list[str] = Field(default_factory=list, description="Canonical fields that must be >= 0")
    duplicates: Literal["quarantine", "last_wins"] = Field(
        default="quarantine", description="Same canonical key with different values in one batch")
    threshold: float | None = Field(default=None, ge=0, le=1,
                                    description="Quarantined share that marks the run suspect (default 0.02)")


class CrosswalkRule(StrictModel):
    """One match rule, tried in order until one links the source key to a canonical id."""

    kind: Literal["file", "exact", "normalized"]
    field: str | None = Field(default=None, description="exact: canonical field whose value must match an id")
    normalize: list[Literal["strip", "upper", "lower", "strip_zeros"]] = Field(default_factory=list)
    path: str | None = Field(default=None, description="file: CSV with system,entity,source_key,canonical_id")
    match: Literal["id", "crosswalk"] = Field(
        default="id", description="exact: match existing canonical ids, or other systems' normalised keys")


class CrosswalkSpec(StrictModel):
    """How this entity's source keys resolve to canonical ids."""

    entity: str | None = Field(default=None, description="Crosswalk entity (default: the target)")
    id_field: str = Field(default="id", description="Canonical field that receives the canonical id")
    rules: list[CrosswalkRule]
    orphans: Literal["quarantine", "create"] = Field(
        default="create", description="No rule matched: quarantine as orphan, or use the mapped id")


def _source_may_come_from_the_lead(schema: dict[str, Any]) -> None:
    """JSON Schema: an entity with `read_with` may leave `source` out (core.mapping.shared_reads)."""
    schema["required"] = [k for k in schema.get("required", []) if k != "source"]


class EntityMapping(StrictModel):
    """One source entity -> one canonical entity, and back."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_source_may_come_from_the_lead)
    source: Source
    read_with: str | None = Field(default=None, description=(
        "Another entity of this file whose read feeds this one too: its set is read once for both "
        "(no `source:` needed here; docs/mapping.md, 'One read, several entities')"))
    target: str = Field(description="Canonical entity (core.model.CANONICAL_ENTITIES)",
                        json_schema_extra={"enum": list(CANONICAL_ENTITIES)})  # editors list and check the names
    key: list[str] = Field(min_length=1, description="Source key fields (composite allowed)")
    fields: dict[str, FieldRule]
    reverse: ReverseMap | None = None
    quality: QualityRules = Field(default_factory=QualityRules)
    crosswalk: CrosswalkSpec | None = None
    references: dict[str, str] = Field(default_factory=dict,
                                       description="Canonical field -> crosswalk entity resolved by source value")
    read_only_fields: list[str] = Field(default_factory=list, description="Target fields write-back must not touch")
    number_format: NumberFormat | None = Field(default=None, description="How this entity's numbers are written "
                                                                         "(default: the file's)")
    name: str = Field(default="", description="Filled from the entities key on load")
    _conversions: Any = PrivateAttr(default=None)
    _file: str = PrivateAttr(default="")  # the mapping file, named in hints to declare a number format

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _to_rule(v) for k, v in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _lead_found(cls, data: Any) -> Any:
        """A `read_with` member left without a source named no lead (MappingFile fills it from one)."""
        if isinstance(data, dict) and "source" not in data and data.get("read_with"):
            raise ValueError(f"read_with {data['read_with']!r} names no other entity of this file with a "
                             "source of its own (a lead is never read with another)")
        return data


class MappingFile(StrictModel):
    """A system's mapping file."""

    version: int = 1
    system: str
    description: str | None = None
    metadata: str | None = Field(default=None, description="Property catalogue (YAML) checked by validate")
    codelists: dict[str, str | dict[str, Any]] = Field(
        default_factory=dict, description="Code list name -> inline code: value mapping, or a YAML file path")
    conversions: str | None = Field(default=None, description="Unit-of-measure conversion YAML file")
    number_format: NumberFormat | None = Field(default=None, description="How the system writes numbers "
                                                                         "(entities and fields may override)")
    entities: dict[str, EntityMapping]

    @model_validator(mode="before")
    @classmethod
    def _lead_sources(cls, data: Any) -> Any:
        """A `read_with` entity without `source:` reads its lead's."""
        return lead_sources(data)


register_kind("mapping", MappingFile)
