"""`segbridge analyze`: every file it writes is private, CSV text cells never open as live formulas."""

from __future__ import annotations

import csv
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate
from segbridge import cli as cli_module
from segbridge.cli import build_app
from segbridge.commands.analyze_cmd import write_data_quality

pytestmark = pytest.mark.unit
HOSTILE = ['=HYPERLINK("http://x",A1)', "+1", "-2+3", "@SUM(A1)"]
OUTPUTS = ["segments.csv", "parameters.csv", "service.csv", "unmatched.csv", "data_quality.csv", "report.html"]


def _rows(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def hostile_folder(tmp_path):
    """A small canonical CSV folder whose first four product ids are formulas (every file that names them)."""
    folder = tmp_path / "in"
    ds = generate(seed=5, products=6, locations=1, customers=4, weeks=30)
    files = write_canonical_csv(ds, folder, only=["order_lines", "products", "product_locations"])
    first = sorted(set(pd.read_csv(folder / "order_lines.csv", dtype=str)["product_id"]))[: len(HOSTILE)]
    rename = dict(zip(first, HOSTILE, strict=True))
    for path in files.values():
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        key = "product_id" if "product_id" in df.columns else "id"
        df[key] = df[key].replace(rename)
        df.to_csv(path, index=False)
    return folder


def test_outputs_are_private_and_product_ids_inert(hostile_folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(build_app(), ["analyze", str(hostile_folder), "--out", str(out)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    for name in OUTPUTS:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    for name in ("segments.csv", "parameters.csv"):
        rows = _rows(out / name)
        ids = {r["entity_key"].split("|")[0] for r in rows}
        assert {"'" + h for h in HOSTILE} <= ids, name
        cells = [v for r in rows for v in r.values() if v]
        assert not [v for v in cells if v.startswith(("=", "+", "@"))], name
        assert not [v for v in cells if v.startswith("-") and not _is_number(v)], name
    par = pd.read_csv(out / "parameters.csv")  # numbers stay numbers: no apostrophe in a number column
    assert pd.api.types.is_float_dtype(par["value_num"]) and par["value_num"].notna().any()
    assert pd.api.types.is_float_dtype(pd.read_csv(out / "segments.csv")["metric"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_data_quality_examples_are_neutralised_counts_kept(tmp_path):
    path = tmp_path / "data_quality.csv"
    write_data_quality({"bad_quantity": {"count": 2, "examples": ["=HYPERLINK(\"http://x\",A1) line 3", "ok"]},
                        "return_lines": {"count": 0, "examples": []}}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _rows(path) == [{"case": "bad_quantity", "count": "2", "example": "'=HYPERLINK(\"http://x\",A1) line 3 | ok"},
                           {"case": "return_lines", "count": "0", "example": ""}]


def test_a_cp1252_folder_fails_with_file_and_byte_then_reads_with_encoding(tmp_path, capsys):
    folder = tmp_path / "win"
    ds = generate(seed=5, products=4, locations=1, customers=3, weeks=20)
    write_canonical_csv(ds, folder, only=["order_lines"])
    lines = pd.read_csv(folder / "order_lines.csv", dtype=str, keep_default_na=False)
    lines["uom"] = "Stück"
    lines.to_csv(folder / "order_lines.csv", index=False, encoding="cp1252")
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["analyze", str(folder), "--out", out, "--no-simulate"])
    text = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1 and "Traceback" not in text
    assert "order_lines.csv: byte " in text and "is not valid utf-8" in text and "--encoding cp1252" in text
    result = CliRunner().invoke(build_app(), ["analyze", str(folder), "--out", out, "--no-simulate",
                                              "--encoding", "cp1252"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


@pytest.mark.spark
def test_engine_spark_writes_the_same_segments(tmp_path, spark):
    folder = tmp_path / "in"
    write_canonical_csv(generate(seed=5, products=6, locations=2, customers=4, weeks=30), folder,
                        only=["order_lines", "products", "product_locations"])
    for engine in ("pandas", "spark"):
        result = CliRunner().invoke(build_app(), ["analyze", str(folder), "--out", str(tmp_path / engine),
                                                  "--engine", engine, "--no-simulate"])
        assert result.exit_code == 0, result.output
    key = ["entity", "entity_key", "dimension"]
    a = pd.read_csv(tmp_path / "pandas" / "segments.csv", dtype=str)
    b = pd.read_csv(tmp_path / "spark" / "segments.csv", dtype=str)
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert len(a) > 20 and a[[*key, "value", "source"]].equals(b[[*key, "value", "source"]])
    assert (a["entity"] == "customer").any()  # customers are segmented on Spark too
    assert (tmp_path / "spark" / "report.html").is_file()
    for name in ("data_quality.csv", "unmatched.csv"):  # the run's summaries, gathered from the partitions
        assert (tmp_path / "pandas" / name).read_text() == (tmp_path / "spark" / name).read_text()
