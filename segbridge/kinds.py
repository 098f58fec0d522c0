"""Import every module that registers a YAML file kind, so `config schema` sees them all."""

from __future__ import annotations

import importlib

KIND_MODULES = ["core.settings", "core.mapping", "core.planning.policy", "connectors.declarative",
                "scheduler.schedule_settings", "core.writeback.writeback_settings", "core.reconcile.reconcile_settings",
                "core.accounts", "core.spark_engine.spark_settings"]


def load_all_kinds() -> None:
    for name in KIND_MODULES:
        importlib.import_module(name)
