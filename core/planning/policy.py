"""The policy table: segment combinations -> service target, safety-stock method, review period,
replenishment type, rounding and routing flags. Plus the classification, customer and governance
settings the engine needs, so one YAML file (hashed into the run) is the whole rule set.

Customer rules (`customer_default`, `customer_rules`) set business values per customer segment:
service level class, delivery priority, transport class and the routing profile (transport mode,
carrier class, expedite allowed, cross-dock). They are never a system's codes: mapping files
translate them through code lists (e.g. transport class EXPRESS -> SAP ShippingCondition "03").

Matching is vectorised: the first rule whose `match` holds wins; rows no rule matches get the
declared `default` and are reported (`MatchResult.unmatched`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from basics.yaml_loader import StrictModel, load_yaml_model, register_kind

PRODUCT_DIMENSIONS = ("abc", "xyz", "pattern", "lifecycle", "segment", "product_abc", "velocity_class",
                      "location_id", "category")
CUSTOMER_DIMENSIONS = ("customer_abc", "customer_segment")


def _check_level(v: float | None) -> float | None:
    if v is not None and not 0 < v < 1:
        raise ValueError("a service level must lie strictly between 0 and 1 (0.999 is fine, 1 is not "
                         "reachable with finite stock)")
    return v


class Settings(StrictModel):
    """What a rule sets. In `default` every field needs a value; in a rule, unset fields inherit."""

    service_level: float | None = None
    service_type: Literal["cycle", "fill_rate"] | None = None
    ss_method: Literal["auto", "normal", "poisson", "negative_binomial", "empirical", "none"] | None = None
    review_period_days: float | None = Field(default=None, ge=0)
    replenishment: Literal["make_to_stock", "make_to_order"] | None = None
    mrp_type: str | None = None
    lot_sizing: str | None = None
    round_to_order_multiple: bool | None = None
    apply_moq: bool | None = None
    order_cost: float | None = Field(default=None, ge=0)
    holding_rate: float | None = Field(default=None, gt=0)
    transport_mode: str | None = None
    carrier_class: str | None = None
    expedite_allowed: bool | None = None
    picking_priority: str | None = None
    cross_dock: bool | None = None
    min_order_value: float | None = Field(default=None, ge=0)

    @field_validator("service_level")
    @classmethod
    def _level(cls, v: float | None) -> float | None:
        return _check_level(v)


DEFAULT_SETTINGS = dict(
    service_level=0.95, service_type="cycle", ss_method="auto", review_period_days=0.0,
    replenishment="make_to_stock", mrp_type="VB", lot_sizing="EX", round_to_order_multiple=True,
    apply_moq=True, order_cost=50.0, holding_rate=0.25, transport_mode="LTL", carrier_class="standard",
    expedite_allowed=False, picking_priority="normal", cross_dock=False, min_order_value=0.0)


def _known_dimensions(match: dict, allowed) -> dict:
    """A rule may only match on the dimensions the engine assigns (the error lists them)."""
    bad = [k for k in match if k not in allowed]
    if bad:
        raise ValueError(f"unknown match dimension(s) {bad}; use {', '.join(allowed)}")
    return match


class Rule(Settings):
    name: str
    match: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("match")
    @classmethod
    def _known(cls, v: dict) -> dict:
        return _known_dimensions(v, PRODUCT_DIMENSIONS)


class CustomerSettings(StrictModel):
    """What a customer rule sets (business values; in `customer_default` every field needs a value)."""

    service_level_class: str | None = None  # e.g. PLATINUM | GOLD | SILVER | BRONZE
    delivery_priority: str | None = None  # e.g. HIGH | NORMAL | LOW
    transport_class: str | None = None  # e.g. STANDARD | EXPRESS | ECONOMY | PICKUP
    transport_mode: str | None = None  # canonical mode: TL | LTL | PARCEL | AIR | OCEAN | RAIL
    carrier_class: str | None = None
    expedite_allowed: bool | None = None
    cross_dock: bool | None = None


DEFAULT_CUSTOMER_SETTINGS = dict(
    service_level_class="SILVER", delivery_priority="NORMAL", transport_class="STANDARD", transport_mode="LTL",
    carrier_class="standard", expedite_allowed=False, cross_dock=False)


class CustomerRule(CustomerSettings):
    name: str
    match: dict[str, str | list[str]] = Field(default_factory=dict)

    @field_validator("match")
    @classmethod
    def _known(cls, v: dict) -> dict:
        return _known_dimensions(v, CUSTOMER_DIMENSIONS)


class Classification(StrictModel):
    abc_measure: Literal["value", "volume", "picks", "margin"] = "value"
    abc_thresholds: tuple[float, float] = (0.8, 0.95)
    abc_scope: Literal["location", "network"] = "location"
    xyz_thresholds: tuple[float, float] = (0.5, 1.0)
    adi_cut: float = 1.32
    cv2_cut: float = 0.49
    velocity_thresholds: tuple[float, float] = (0.8, 0.95)
    period: Literal["D", "W", "M"] = "W"
    window: int = Field(default=52, ge=2)
    exclude_promotions: bool = False
    outliers: Literal["hampel"] | None = None
    new_periods: int = 13
    phase_out_periods: int = 13
    obsolete_periods: int = 52
    default_lead_time_days: float = Field(default=14.0, ge=0)
    # Order lines with a negative quantity (returns): `exclude` keeps them out of demand (counted and
    # reported as returned quantity); `net` subtracts them from demand in the period of the return.
    returns: Literal["exclude", "net"] = "exclude"

    @field_validator("abc_thresholds", "xyz_thresholds", "velocity_thresholds")
    @classmethod
    def _rising(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] < v[1]:
            raise ValueError(f"thresholds must rise strictly, got {list(v)}")
        return v


class CustomerSegmentRule(StrictModel):
    segment: str
    min: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)
    abc: list[str] = Field(default_factory=list)


class KMeansConfig(StrictModel):
    enabled: bool = False
    k: int = Field(default=4, ge=1)
    labels: list[str] | None = None


class CostRates(StrictModel):
    per_order: float = 0.0
    per_line: float = 0.0
    per_shipment: float = 0.0
    surcharges: dict[str, float] = Field(default_factory=dict)


class CustomerConfig(StrictModel):
    abc_measure: Literal["revenue", "gross_margin", "profit"] = "revenue"
    abc_thresholds: tuple[float, float] = (0.8, 0.95)
    cost_rates: CostRates = Field(default_factory=CostRates)
    rules: list[CustomerSegmentRule] = Field(default_factory=list)
    default_segment: str = "standard"
    kmeans: KMeansConfig = Field(default_factory=KMeansConfig)


class Governance(StrictModel):
    hysteresis_margin: dict[Literal["abc", "xyz"], float] = Field(default_factory=lambda: {"abc": 0.02,
                                                                                           "xyz": 0.05})
    persist_runs: int = Field(default=2, ge=1)


class Policy(StrictModel):
    """A whole rule set (one YAML file, kind 'policy')."""

    version: int = 1
    classification: Classification = Field(default_factory=Classification)
    default: Settings = Field(default_factory=lambda: Settings(**DEFAULT_SETTINGS))
    rules: list[Rule] = Field(default_factory=list)
    customers: CustomerConfig = Field(default_factory=CustomerConfig)
    customer_default: CustomerSettings = Field(default_factory=lambda: CustomerSettings(**DEFAULT_CUSTOMER_SETTINGS))
    customer_rules: list[CustomerRule] = Field(default_factory=list)
    governance: Governance = Field(default_factory=Governance)

    @model_validator(mode="after")
    def _default_complete(self) -> Policy:
        for name, settings in (("default", self.default), ("customer_default", self.customer_default)):
            missing = [k for k, v in settings.model_dump().items() if v is None]
            if missing:
                raise ValueError(f"{name} must set every field; missing: {', '.join(missing)}")
        return self


register_kind("policy", Policy)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy YAML (the shipped mappings/policy.yaml when no path is given)."""
    if path is None:
        from core.paths import mappings_dir

        path = mappings_dir() / "policy.yaml"
    return load_yaml_model(path, Policy)


@dataclass
class MatchResult:
    rule: pd.Series  # rule name per row ('default' when none matched)
    settings: pd.DataFrame  # one column per Settings field, aligned with the input rows
    unmatched: pd.DataFrame  # combinations no rule matched, with counts


def _settings_table(default: Settings, rules: list) -> pd.DataFrame:
    base = default.model_dump()
    rows = [base] + [{**base, **{k: v for k, v in r.model_dump(exclude={"name", "match"}).items()
                                 if v is not None}} for r in rules]
    return pd.DataFrame(rows)


def match_rules(frame: pd.DataFrame, rules: list, default, dims: tuple[str, ...]) -> MatchResult:
    """First-match-wins over `rules` on the columns of `frame` (values compared as strings)."""
    n = len(frame)
    idx = np.full(n, -1, dtype=np.int64)
    for i, rule in enumerate(rules):
        mask = idx < 0
        for dim, allowed in rule.match.items():
            if dim not in frame:
                raise KeyError(f"rule {rule.name!r} matches on {dim!r}, which the engine did not compute")
            vals = [allowed] if isinstance(allowed, str) else list(allowed)
            if "*" not in vals:
                mask &= frame[dim].astype(str).isin(vals).to_numpy()
        idx[mask] = i
    table = _settings_table(default, rules)
    settings = table.iloc[idx + 1].reset_index(drop=True)
    settings.index = frame.index
    names = np.asarray(["default"] + [r.name for r in rules], dtype=object)[idx + 1]
    present = [d for d in dims if d in frame]
    miss = frame.loc[idx < 0, present]
    unmatched = miss.value_counts().rename("count").reset_index() if present and len(miss) else \
        pd.DataFrame(columns=[*present, "count"])
    return MatchResult(pd.Series(names, index=frame.index), settings, unmatched)


def match_products(frame: pd.DataFrame, policy: Policy) -> MatchResult:
    """Product-location rows (abc, xyz, pattern, lifecycle, segment, ...) -> settings."""
    return match_rules(frame, policy.rules, policy.default, ("abc", "xyz", "pattern", "lifecycle"))


def match_customers(frame: pd.DataFrame, policy: Policy) -> MatchResult:
    """Customer rows (customer_abc, customer_segment) -> service level class, delivery priority, transport
    class and routing profile (transport mode, carrier class, expedite allowed, cross-dock)."""
    return match_rules(frame, policy.customer_rules, policy.customer_default, CUSTOMER_DIMENSIONS)
