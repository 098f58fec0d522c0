"""`read_with`: one read of a source set feeds several entity mappings (docs/mapping.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from basics.errors import ConfigError
from basics.yaml_loader import StrictModel
from connectors import registry
from connectors.base import CheckResult, Connector, RecordBatch, StreamSpec
from core.mapping import load_mapping
from core.mapping.shared_reads import read_groups
from core.mapping.spec import EntityMapping
from core.settings import SegbridgeConfig
from core.statuses import RunStatus
from core.store import create_all, open_store
from core.sync import load_state, pull

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[4] / "docs" / "mapping.md"


def docs_example() -> str:
    """The YAML block of docs/mapping.md's section on `read_with`, as written there."""
    text = DOCS.read_text(encoding="utf-8").split("## One read, several entities", 1)[1]
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def example(tmp_path) -> Path:
    path = tmp_path / "erp_sites.yaml"
    path.write_text(docs_example(), encoding="utf-8")
    return path


def _with(example: Path, old: str, new: str) -> Path:
    example.write_text(example.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return example


# --------------------------------------------------------------------------- the file


def test_a_member_without_source_takes_its_leads(example):
    mf = load_mapping(example)
    assert mf.entities["sites"].source == mf.entities["item_sites"].source
    assert mf.entities["sites"].read_with == "item_sites"
    assert "source" not in EntityMapping.model_json_schema()["required"]  # editors accept the member


@pytest.mark.parametrize("old, new, where, says", [
    ("read_with: item_sites ", "read_with: item_site ", "12:3", "read_with 'item_site' names no other entity"),
    ("read_with: item_sites ", "read_with: sites ", "12:3", "read_with 'sites' names no other entity"),
    ("read_with: item_sites ", "read_with: item_sites\n    source: {kind: csv_file, name: other.csv}\n   ",
     "14:5", "the source differs from that of 'item_sites'"),
    ("read_with: item_sites ", "read_with: item_sites\n    source: {kind: csv_file, name: item_sites.csv, "
     "options: {x: 1}}\n   ", "14:52", "options of an entity read with 'item_sites' are that entity's"),
])
def test_a_misdeclared_read_with_is_refused_at_its_line(example, old, new, where, says):
    with pytest.raises(ConfigError) as err:
        load_mapping(_with(example, old, new))
    assert f"{example}:{where}: " in err.value.message and says in err.value.message, err.value.message


def test_a_chain_of_read_with_is_refused(example):
    chained = "  more_sites:\n    read_with: sites\n    target: location\n    key: [Site]\n    fields:\n      id: Site\n"
    example.write_text(docs_example() + chained, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(example)
    assert "entities.more_sites: " in err.value.message and "a lead is never read with another" in err.value.message
    sourced = chained.replace("read_with: sites\n", "read_with: sites\n    source: {kind: csv_file, name: item_sites.csv}\n")
    example.write_text(docs_example() + sourced, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(example)
    assert "'sites' is itself read with 'item_sites'" in err.value.message and "read_with: item_sites" in err.value.message


# --------------------------------------------------------------------------- which reads a pull makes


def test_groups_put_the_lead_first_at_the_place_of_its_first_member(example):
    sites_first = docs_example().split("  sites:\n")
    text = sites_first[0].replace("entities:\n", "entities:\n  sites:\n" + sites_first[1].rstrip("\n") + "\n", 1)
    example.write_text(text, encoding="utf-8")
    entities = load_mapping(example).entities
    assert list(entities) == ["sites", "item_sites"]
    assert [[e.name for e in g] for g in read_groups(entities)] == [["item_sites", "sites"]]


def test_a_member_pulled_without_its_lead_or_from_another_checkpoint_reads_alone(example):
    entities = load_mapping(example).entities
    assert [[e.name for e in g] for g in read_groups({"sites": entities["sites"]})] == [["sites"]]
    states = {"item_sites": {"since": "2024-03-01"}, "sites": {"since": "2024-02-01"}}
    alone = read_groups(entities, lambda em: states[em.name])
    assert [[e.name for e in g] for g in alone] == [["item_sites"], ["sites"]]
    states["sites"] = dict(states["item_sites"])
    assert [[e.name for e in g] for g in read_groups(entities, lambda em: states[em.name])] == [["item_sites", "sites"]]


# --------------------------------------------------------------------------- a pull


class _Options(StrictModel):
    pass


class OneSetSystem(Connector):
    """Serves item_sites.csv's rows in two batches, recording each read (stream, fields, state)."""

    kind = "test_one_set_system"
    Options = _Options
    ROWS = [{"Item": "P1", "Site": "S1", "MinLot": "5"}, {"Item": "P2", "Site": "S1", "MinLot": "2"},
            {"Item": "P2", "Site": "S2", "MinLot": "1"}]
    reads: list[tuple[str, list[str], dict | None]] = []

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def discover(self) -> list[StreamSpec]:
        return []

    def read(self, stream, state):
        OneSetSystem.reads.append((stream.name, list(stream.fields), state))
        done = len(OneSetSystem.reads)
        yield RecordBatch(self.ROWS[:2], {"position": 2, "read": done})
        yield RecordBatch(self.ROWS[2:], {"read": done})


registry.register(OneSetSystem)


@pytest.fixture
def sites_pull(tmp_path, example):
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    config = SegbridgeConfig.model_validate({"systems": {"erp": {"kind": "test_one_set_system",
                                                                 "mapping": str(example)}}})
    OneSetSystem.reads = []
    yield config, db
    db.dispose()


def test_one_read_feeds_both_entities_each_with_its_counts_and_checkpoint(sites_pull):
    from core.model import Location, ProductLocation
    from core.store import read_frame

    config, db = sites_pull
    [result] = pull(config, db)
    assert result.status == RunStatus.OK
    [(stream, fields, state)] = OneSetSystem.reads  # item_sites.csv read once
    assert stream == "item_sites.csv" and state is None and {"Item", "Site", "MinLot"} <= set(fields)
    counts = {s.entity: (s.read, s.loaded, s.batches) for s in result.streams}
    assert counts == {"item_sites": (3, 3, 2), "sites": (3, 3, 2)}
    assert sorted(read_frame(db, Location)["id"]) == ["S1", "S2"]
    assert len(read_frame(db, ProductLocation)) == 3
    assert load_state(db, "erp", "item_sites.csv", "sites") == load_state(db, "erp", "item_sites.csv", "item_sites") \
        == {"read": 1}
    pull(config, db)  # incremental: the checkpoints agree, so one read again, from them
    assert OneSetSystem.reads[1:] == [("item_sites.csv", fields, {"read": 1})]


def test_a_member_pulled_alone_reads_the_leads_set_and_then_reads_alone_until_the_checkpoints_agree(sites_pull):
    config, db = sites_pull
    [alone] = pull(config, db, entities=["sites"])
    assert alone.status == RunStatus.OK and [s.entity for s in alone.streams] == ["sites"]
    assert OneSetSystem.reads == [("item_sites.csv", ["Site"], None)]
    pull(config, db)  # sites' checkpoint {"read": 1} differs from item_sites' (none): two reads, each its own
    assert [(r[0], r[2]) for r in OneSetSystem.reads[1:]] == [("item_sites.csv", None), ("item_sites.csv", {"read": 1})]
