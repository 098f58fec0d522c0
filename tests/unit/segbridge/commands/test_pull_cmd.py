"""`segbridge pull` exit codes: 0 clean, 3 suspect (quarantine above threshold), 1 failed; a suspect
pull prints its top quarantine reasons with examples."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit

GOOD = "id,name\nP1,Bolt\nP2,Nut\nP3,Washer\n"


def _site(tmp_path, products: str, extra: str = "") -> object:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "products.csv").write_text(products, encoding="utf-8")
    (tmp_path / "segbridge.yaml").write_text(
        "database:\n  url: sqlite:///store.db\n"
        f"systems:\n  erp:\n    kind: csv_folder\n    mapping: canonical_csv.yaml\n"
        f"    options: {{path: {drop}}}\n{extra}", encoding="utf-8")
    return tmp_path


def _pull(site, *args):
    result = CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "pull", "--no-progress",
                                              "-e", "products", *args])
    return result, " ".join(result.output.split())


def test_a_clean_pull_exits_0(tmp_path):
    result, text = _pull(_site(tmp_path, GOOD))
    assert result.exit_code == 0, result.output
    assert "erp: run 1 ok" in text and "SUSPECT" not in text


def test_a_misspelt_key_column_quarantines_every_row_and_exits_3_with_the_top_reason(tmp_path):
    result, text = _pull(_site(tmp_path, GOOD.replace("id,name", "Id,name")))
    assert result.exit_code == 3, result.output
    assert "erp: run 1 ok - SUSPECT: quarantine above threshold" in text
    assert "top quarantine reasons:" in text
    assert "3 products: missing_key" in text, text
    # csv_folder records carry their file and row: the example names them (header = row 1)
    assert "products.csv row 2: (key): key id is missing" in text, text
    assert "segbridge quarantine list --run 1" in text


def test_a_share_under_the_per_entity_threshold_is_not_suspect(tmp_path):
    one_bad = GOOD + ",Nameless\n"  # 1 of 4 quarantined: 25 %
    result, _ = _pull(_site(tmp_path, one_bad, "quality:\n  per_entity: {products: 0.5}\n"))
    assert result.exit_code == 0, result.output
    (tmp_path / "strict").mkdir()
    result, text = _pull(_site(tmp_path / "strict", one_bad))
    assert result.exit_code == 3 and "SUSPECT" in text  # the default 2 % threshold


def test_a_canonical_entity_name_in_per_entity_sets_the_threshold(tmp_path):
    one_bad = GOOD + ",Nameless\n"
    result, _ = _pull(_site(tmp_path, one_bad, "quality:\n  per_entity: {product: 0.5}\n"))
    assert result.exit_code == 0, result.output


def test_a_failed_pull_exits_1(tmp_path):
    site = _site(tmp_path, GOOD)
    (site / "drop" / "products.csv").write_bytes(b"id,name\nP1,\xff\xfe\n")  # not UTF-8: the read fails
    result, text = _pull(site)
    assert result.exit_code == 1, result.output
    assert "erp: run 1 failed" in text


def test_us_dates_are_quarantined_and_the_pull_says_so(tmp_path):
    site = _site(tmp_path, GOOD)
    (site / "drop" / "order_lines.csv").write_text(
        "order_id,line_no,product_id,order_date,quantity\nO1,1,P1,12/31/2025,5\nO2,1,P2,01/15/2026,3\n",
        encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "pull", "--no-progress",
                                              "-e", "products", "-e", "order_lines"])
    text = " ".join(result.output.split())
    assert result.exit_code == 3, result.output
    assert "2 order_lines: bad_type" in text and "order_lines.csv row 2: order_date" in text, text
