"""connectors.declarative.manifest: the REST manifest model, its cross-checks, and how load_manifest
finds a manifest (shipped name, absolute path, path relative to the config)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from basics.errors import ConfigError
from connectors.declarative.manifest import MANIFEST_DIR, Manifest, ReadBack, WriteDef, load_manifest
from connectors.http.paginators import CursorPaginator

pytestmark = pytest.mark.unit

MINIMAL = "name: acme\ncheck: {path: ping}\nstreams:\n  items: {path: items, primary_key: [sku]}\n"


def _manifest(**extra) -> dict:
    return {"name": "acme", "check": {"path": "ping"},
            "streams": {"items": {"path": "items", "primary_key": ["sku"]}}, **extra}


def test_defaults_of_a_minimal_manifest():
    m = Manifest.model_validate(_manifest(writes={"items": {"path": "items/{sku}"}}))
    assert (m.version, m.base_path, m.headers) == (1, "", {})
    stream = m.streams["items"]
    assert (stream.record_path, stream.paginator, stream.incremental, stream.not_found_is_empty) == (
        None, None, None, False)
    write = m.writes["items"]
    assert (write.method, write.mode, write.batch_size, write.items_field, write.key_in_body) == (
        "POST", "batch", 50, "items", True)
    assert (write.result.path, write.result.match, write.result.status_field) == ("results", "order", "status")
    assert write.result.success_values == ["success", True, "SUCCEEDED", "OK"]


def test_paginator_and_incremental_are_parsed():
    m = Manifest.model_validate(_manifest(streams={"items": {
        "path": "items", "primary_key": ["sku"], "paginator": {"kind": "cursor", "cursor_path": "meta.next"},
        "incremental": {"cursor_field": "mod_ts", "param": "mod_ts__gte", "lookback_seconds": 60}}}))
    stream = m.streams["items"]
    assert isinstance(stream.paginator, CursorPaginator) and stream.paginator.cursor_path == "meta.next"
    assert (stream.incremental.template, stream.incremental.format, stream.incremental.lookback_seconds) == (
        "{value}", "iso", 60)


@pytest.mark.parametrize(("writes", "message"), [
    ({"items": {"path": "items", "read_back": {"stream": "nosuch"}}}, "unknown stream 'nosuch'"),
    ({"items": {"path": "items", "fields": ["qty"], "types": {"flag": "bool"}}}, "not writable fields: flag"),
])
def test_writes_are_checked_against_streams_and_fields(writes, message):
    with pytest.raises(ValidationError, match=message):
        Manifest.model_validate(_manifest(writes=writes))


def test_types_of_any_field_when_fields_are_open():
    write = WriteDef.model_validate({"path": "items", "types": {"flag": "bool"}})
    assert write.types == {"flag": "bool"} and write.fields == []


def test_read_back_is_batched_or_per_key_never_both():
    assert ReadBack.model_validate({"stream": "items", "in_params": {"sku": "sku__in"}}).batch_size == 100
    with pytest.raises(ValidationError, match="either in_params"):
        ReadBack.model_validate({"stream": "items", "in_params": {"sku": "sku__in"}, "path": "items/{sku}"})
    with pytest.raises(ValidationError):
        ReadBack.model_validate({"stream": "items", "batch_size": 1001})


@pytest.mark.parametrize("bad", [
    {"streams": {"items": {"path": "items", "primary_key": []}}},
    {"writes": {"items": {"path": "items", "method": "DELETE"}}},
    {"writes": {"items": {"path": "items", "batch_size": 0}}},
])
def test_invalid_manifests_are_refused(bad):
    with pytest.raises(ValidationError):
        Manifest.model_validate(_manifest() | bad)


def test_load_by_shipped_name_absolute_path_or_relative_to_the_config(tmp_path):
    assert {p.stem for p in MANIFEST_DIR.glob("*.yaml")} >= {"wms", "tms"}
    assert load_manifest("wms").name == load_manifest(MANIFEST_DIR / "wms.yaml").name
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "acme.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_manifest(path).name == "acme"
    assert load_manifest("acme.yaml", base_dir=tmp_path / "conf").streams["items"].primary_key == ["sku"]
    with pytest.raises(ConfigError, match="'acme.yaml' not found"):
        load_manifest("acme.yaml", base_dir=tmp_path)
