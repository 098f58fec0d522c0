"""The mapping engine: one declarative way for every connector to turn records into canonical rows and back.

Public API (connectors and write-back call only these):
    load_mapping(path) -> MappingFile                      mappings/*.yaml, checked against the model
    map_records(entity_mapping, records, conversions=None) -> MapResult (.rows/.frame, .quarantined)
    reverse_map(entity_mapping, values) -> dict            canonical values formatted for the target
    reverse_target(entity_mapping) -> ReverseTarget        target entity, key fields, read-back fields
    reverse_key(entity_mapping, values) -> dict            the target's key fields, formatted
    loader.load_batch(conn, system, entity_mapping, records, run_id) -> BatchCounts
    Conversions                                            unit-of-measure factors for the `uom` transform
"""

from core.mapping.context import Conversions
from core.mapping.mapper import MapResult, QuarantinedRecord, map_records
from core.mapping.mapping_files import check_paths, load_mapping
from core.mapping.reverse import ReverseTarget, reverse_frame, reverse_key, reverse_map, reverse_target
from core.mapping.spec import EntityMapping, MappingFile
from core.mapping.transforms import REGISTRY

__all__ = [
    "REGISTRY", "Conversions", "EntityMapping", "MapResult", "MappingFile", "QuarantinedRecord", "ReverseTarget",
    "check_paths", "load_mapping", "map_records", "reverse_frame", "reverse_key", "reverse_map", "reverse_target",
]
