"""The csv_folder connector on real files: the canonical CSV layout, incremental by file, chunked reads,
Excel, and a resume inside a file."""

from __future__ import annotations

import os

import pytest

from connectors import registry
from connectors.base import StreamSpec
from connectors.testing.suite import ConnectorContract, read_all
from core.model import OrderLine, Product, ProductLocation
from core.settings import SegbridgeConfig
from core.store import create_all, open_store, read_frame
from core.sync import pull
from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=2, products=10, locations=2, customers=6, weeks=12)


def connector(folder, **opts):
    return registry.create("csv_folder", {"path": str(folder), "chunk_rows": 100, **opts}, name="erp")


def test_pull_canonical_csv_layout_then_only_new_or_replaced_files(tmp_path, dataset):
    drop = tmp_path / "drop"
    write_canonical_csv(dataset, drop)
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    config = SegbridgeConfig.model_validate({"systems": {"erp": {"kind": "csv_folder", "mapping": "canonical_csv.yaml",
                                                                 "options": {"path": str(drop), "chunk_rows": 100}}}})
    first = pull(config, db)[0]
    by_entity = {s.entity: s for s in first.streams}
    assert first.status == "ok", first.message
    assert by_entity["order_lines"].read == len(dataset.order_lines)
    assert by_entity["order_lines"].batches == -(-len(dataset.order_lines) // 100)
    assert by_entity["order_lines"].quarantined == 0
    assert len(read_frame(db, OrderLine)) == len(dataset.order_lines)
    assert len(read_frame(db, Product)) == len(dataset.products)
    assert len(read_frame(db, ProductLocation)) == len(dataset.product_locations)

    second = pull(config, db)[0]
    assert sum(s.read for s in second.streams) == 0

    products = drop / "products.csv"
    products.write_text(products.read_text().replace("Product P000001", "Renamed"))
    os.utime(products, ns=(products.stat().st_atime_ns, products.stat().st_mtime_ns + 10**9))
    third = pull(config, db)[0]
    assert {s.entity: s.read for s in third.streams if s.read} == {"products": len(dataset.products)}
    names = read_frame(db, Product).set_index("id")["name"]
    assert names["P000001"] == "Renamed"


def test_pattern_streams_and_chunked_checkpoint_resume(tmp_path, dataset):
    lines = dataset.order_lines
    lines.iloc[:150].to_csv(tmp_path / "orders_1.csv", index=False)
    lines.iloc[150:250].to_csv(tmp_path / "orders_2.csv", index=False)
    conn = connector(tmp_path)
    batches = list(conn.read(StreamSpec("orders_*.csv"), None))
    assert [len(b.records) for b in batches] == [100, 50, 100]
    assert batches[0].checkpoint["position"]["file"] == "orders_1.csv"
    assert batches[0].checkpoint["position"]["rows"] == 100
    resumed = list(conn.read(StreamSpec("orders_*.csv"), batches[0].checkpoint))
    assert [len(b.records) for b in resumed] == [50, 100]
    assert resumed[0].records[0]["order_id"] == str(lines.iloc[100]["order_id"])
    done = resumed[-1].checkpoint
    assert set(done["extra"]["files"]) == {"orders_1.csv", "orders_2.csv"} and "position" not in done
    assert list(conn.read(StreamSpec("orders_*.csv"), done)) == []


def test_excel_files_and_text_values(tmp_path, dataset):
    write_canonical_csv(dataset, tmp_path, only=["products"], excel=True)
    records, checkpoint, _ = read_all(connector(tmp_path), StreamSpec("products.xlsx"))
    assert len(records) == len(dataset.products)
    first = dataset.products.iloc[0]
    assert records[0]["id"] == first["id"] and records[0]["created_on"] == first["created_on"].isoformat()
    assert list(checkpoint["extra"]["files"]) == ["products.xlsx"]


def test_check_and_discover(tmp_path, dataset):
    write_canonical_csv(dataset, tmp_path / "d", only=["products", "customers"])
    conn = connector(tmp_path / "d")
    assert conn.check().ok and conn.check().message.startswith("2 file(s)")
    assert sorted(s.name for s in conn.discover()) == ["customers.csv", "products.csv"]
    missing = connector(tmp_path / "nope").check()
    assert not missing.ok and "does not exist" in missing.message


class TestCsvFolderContract(ConnectorContract):
    """The shipped contract scenarios on a folder of canonical CSV files (chunks of 40 rows)."""

    streams = ["order_lines.csv", "products.csv"]

    @pytest.fixture
    def server_app(self, tmp_path, dataset):
        write_canonical_csv(dataset, tmp_path, only=["order_lines", "products"])
        return tmp_path

    @pytest.fixture
    def connector(self, server_app):
        return connector(server_app, chunk_rows=40)

    def edit_during_paging(self, folder, stream):
        """The file being read is replaced (a new export of it): the next read reads it again."""
        path = folder / stream
        path.write_text(path.read_text())
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
        return []
