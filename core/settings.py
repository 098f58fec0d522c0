"""The models of `segbridge.yaml`, the one configuration file of a segbridge installation.

Sections owned by one area (a connector's `options`, the engine's `segmentation`, the
scheduler's `schedules`) are validated by that area's own model, registered with
`register_section`/the connector registry, so `segbridge validate` checks everything with
file:line errors while this module stays small.

Example segbridge.yaml:

    database:
      url: sqlite:///segbridge.db
    systems:
      sap:
        kind: sap_odata
        mapping: sap_s4.yaml
        options:
          base_url: https://s4.example.com:44300      # the server only: service_root adds /sap/opu/odata/sap
          auth: {type: basic, username: SEGBRIDGE, password: "${SAP_PASSWORD}"}

Every system names its mapping file: `pull` reads through it, and `segbridge validate` reports a
system without one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from basics import secrets
from basics.errors import ConfigError
from basics.yaml_loader import StrictModel, document_of, load_yaml_model, register_kind, validate_data

CONFIG_FILE = "segbridge.yaml"
_SECTIONS: dict[str, type[StrictModel]] = {}


def register_section(name: str, model: type[StrictModel]) -> type[StrictModel]:
    """Let an area validate its own top-level section of segbridge.yaml (e.g. 'segmentation')."""
    _SECTIONS[name] = model
    return model


class DatabaseConfig(StrictModel):
    url: str = Field("sqlite:///segbridge.db", description="SQLAlchemy URL; ${ENV_VAR} references allowed "
                     "for the password, e.g. postgresql://segbridge:${PGPASSWORD}@db:5432/segbridge")

    @field_validator("url")
    @classmethod
    def _no_literal_password(cls, value: str) -> str:
        match = re.match(r"^[a-z0-9+]+://[^:/@]+:([^@]+)@", value)
        if match and not secrets.is_reference(match.group(1)):
            raise ValueError("the password in database.url must be an ${ENV_VAR} reference")
        return value

    def resolved_url(self) -> str:
        """The URL with `${ENV_VAR}` references resolved (use it, never print it)."""
        return secrets.resolve(self.url, what="database.url") or self.url


DEFAULT_WRITE_BATCH = 50
"""Items per write request for a connector that declares no `write_batch_max`."""


class WriteConfig(StrictModel):
    enabled: bool = Field(True, description="Allow write-back to this system")
    batch_size: int | None = Field(None, ge=1, description="Items per write request ($batch, composite ...); "
                                   "default: the connector's documented maximum (`write_batch_max`), else "
                                   f"{DEFAULT_WRITE_BATCH}; a larger value than that maximum is refused")


class SystemConfig(StrictModel):
    kind: str = Field(description="Connector kind, e.g. sap_odata, sap_rfc, oracle_soap, rest, salesforce")
    mapping: str | None = Field(None, description="Mapping file (relative to mappings_dir or the config file); "
                                "required by `pull`, so `segbridge validate` reports a system without one")
    enabled: bool = True
    options: dict[str, Any] = Field(default_factory=dict, description="Connector options (see its schema)")
    write: WriteConfig = Field(default_factory=WriteConfig)


class QualityConfig(StrictModel):
    max_quarantine_share: float = Field(0.02, ge=0, le=1, description="Share of an entity's records that "
                                        "may be quarantined before the run is marked suspect")
    per_entity: dict[str, float] = Field(default_factory=dict, description="Overrides per canonical entity")


class SegmentationConfig(StrictModel):
    policy: str | None = Field(None, description="Policy table YAML, relative to this file "
                               "(default: the shipped mappings/policy.yaml)")


class SegbridgeConfig(StrictModel):
    """segbridge.yaml"""

    version: int = Field(1, description="File format version")
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    mappings_dir: str | None = Field(None, description="Folder of mapping files (default: the shipped ones)")
    systems: dict[str, SystemConfig] = Field(default_factory=dict)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig,
                                             description="The engine's policy table")
    writeback: dict[str, Any] = Field(default_factory=dict, description="Plan guardrails and tolerances")
    reconcile: dict[str, Any] = Field(default_factory=dict, description="Reconciliation rules")
    schedules: dict[str, Any] = Field(default_factory=dict, description="Scheduler steps and timetable")
    alerts: dict[str, Any] = Field(default_factory=dict, description="Alert channels")
    webapp: dict[str, Any] = Field(default_factory=dict, description="`segbridge serve`: OpenID Connect login")
    engine: dict[str, Any] = Field(default_factory=dict, description="Engine backend: {kind: pandas | spark, "
                                   "master, conf} (core.spark_engine.spark_settings; docs/spark.md)")

    @property
    def base_dir(self) -> Path:
        doc = document_of(self)
        return doc.path.resolve().parent if doc else Path.cwd()

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    def mapping_path(self, system: str) -> Path:
        """The mapping file of a system: relative to mappings_dir, the config folder, or the shipped set."""
        from core.paths import mappings_dir

        name = self.system(system).mapping
        if not name:
            raise ConfigError(f"systems.{system}.mapping is not set", hint="name the system's mapping file")
        candidates = [self.resolve_path(self.mappings_dir) / name] if self.mappings_dir else []
        candidates += [self.resolve_path(name), mappings_dir() / name]
        for path in candidates:
            if path.is_file():
                return path
        raise ConfigError(f"systems.{system}.mapping: file {name!r} not found",
                          hint="looked in: " + ", ".join(str(p.parent) for p in candidates))

    def system(self, name: str) -> SystemConfig:
        if name not in self.systems:
            from basics.yaml_loader import suggest

            guess = suggest(name, list(self.systems))
            raise ConfigError(f"unknown system {name!r}; configured: {', '.join(self.systems) or 'none'}",
                              hint=f"did you mean {guess!r}?" if guess else "add it under `systems:`")
        return self.systems[name]

    def section(self, name: str, model: type[StrictModel] | None = None) -> Any:
        """A registered section validated by its owner's model, with file:line errors."""
        model = model or _SECTIONS[name]
        data = getattr(self, name) or {}
        doc = document_of(self)
        if doc is None:
            return model.model_validate(data)
        return validate_data(doc, data, model, prefix=(name,))

    def validate_sections(self) -> None:
        """Validate every registered section (segbridge validate)."""
        for name in _SECTIONS:
            self.section(name)


register_kind("segbridge", SegbridgeConfig)


def load_config(path: str | Path | None = None) -> SegbridgeConfig:
    """Load segbridge.yaml (default: in the working directory)."""
    path = Path(path or CONFIG_FILE)
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found",
                          hint="run `segbridge init` to write a working one, or pass --config PATH")
    return load_yaml_model(path, SegbridgeConfig)
