"""Declarative REST connector: a YAML manifest (kind `rest_manifest`) plus the connector that runs it."""

from connectors.declarative.manifest import Manifest, load_manifest

__all__ = ["Manifest", "load_manifest"]
