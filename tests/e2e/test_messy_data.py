"""Issue 15 item 3, no silent nonsense from messy data: each case through `segbridge analyze` (CSV
files) and through `segbridge pull` + `segbridge segment` (the store).

The analyze tests compare the messy folder with the folder the handling promises to be equivalent
to (the bad line removed, the negative lead time blank, ...): same parameters, plus the count and
the line in data_quality.csv. On the store side a case the canonical CSV mapping or the column
types refuse shows up as quarantine with its reason; a case the store can hold (another system's
mapping may let a negative lead time or a return through) is written into the store directly and
`segment` reports it in the run's counts and message.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from core.model import OrderLine, Quarantine, Run
from core.store import open_store, read_frame, upsert
from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate
from segbridge.cli import build_app

pytestmark = pytest.mark.e2e
OL = "order_lines.csv"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    ds = generate(seed=3, products=8, locations=2, customers=5, weeks=30)
    write_canonical_csv(ds, folder, only=["order_lines", "products", "product_locations", "customers",
                                          "shipments", "receipts"])
    return folder


def copy(base: Path, to: Path) -> Path:
    shutil.copytree(base, to)
    return to


def edit(folder: Path, file: str, fn) -> None:
    df = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
    fn(df).to_csv(folder / file, index=False)


def cli(*args: str):
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return " ".join(result.output.split())


def analyze(folder: Path, *extra) -> tuple[pd.DataFrame, dict, str]:
    """(parameters, {case: (count, example)}, output) of `segbridge analyze folder`."""
    out = folder.parent / (folder.name + "_out")
    text = cli("analyze", folder, "--out", out, "--no-simulate", *extra)
    par = pd.read_csv(out / "parameters.csv", dtype={"entity_key": str})
    dq = pd.read_csv(out / "data_quality.csv", keep_default_na=False)
    return par, {r.case: (float(r.count), r.example) for r in dq.itertuples()}, text


def same_parameters(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = ["entity", "entity_key", "name"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True))


def cli_error(capsys, *args: str) -> str:
    """The real entry point on bad input: exit 1 and a message, never a traceback."""
    from segbridge import cli as cli_module

    with pytest.raises(SystemExit) as exc:
        cli_module.main([str(a) for a in args])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1 and "Traceback" not in err, err
    return err


def store_of(folder: Path) -> tuple[Path, object]:
    """A segbridge.yaml whose one system is the CSV folder, pulled into a SQLite store."""
    site = folder.parent / (folder.name + "_site")
    site.mkdir()
    cfg = site / "segbridge.yaml"
    cfg.write_text(f'database: {{url: "sqlite:///{site}/store.db"}}\n'
                   f"systems:\n  files:\n    kind: csv_folder\n    mapping: canonical_csv.yaml\n"
                   f"    options: {{path: {folder}}}\nquality: {{max_quarantine_share: 1.0}}\n", encoding="utf-8")
    cli("-c", cfg, "pull", "--no-progress")
    return cfg, open_store(f"sqlite:///{site}/store.db")


def segment(cfg: Path, db) -> tuple[dict, str, str]:
    """(data_quality counts, run message, output) of `segbridge segment`."""
    text = cli("-c", cfg, "segment")
    run = read_frame(db, Run).query("kind == 'segment'").iloc[-1]
    return json.loads(run["counts"])["data_quality"], run["message"] or "", text


def quarantined(db, entity: str) -> list[tuple[str, str]]:
    q = read_frame(db, Quarantine)
    q = q[q["entity"] == entity]
    return sorted(zip(q["source_key"], q["reason_code"], strict=True))


# ---- 1. blank or non-numeric quantity ---------------------------------------------------------------


def test_bad_quantity_is_set_aside_and_named(base, tmp_path, capsys):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, lambda d: d.assign(quantity=d["quantity"].where(d.index != 3, "").where(d.index != 7, "abc")))
    clean = copy(base, tmp_path / "clean")
    edit(clean, OL, lambda d: d.drop(index=[3, 7]))
    par, dq, text = analyze(messy)
    assert dq["bad_quantity"] == (2.0, "order_lines.csv line 5 | order_lines.csv line 9")
    assert "2 order line(s) with a blank or non-numeric quantity set aside" in text
    same_parameters(par, analyze(clean)[0])

    cfg, db = store_of(messy)
    lines = pd.read_csv(messy / OL, dtype=str, keep_default_na=False)
    keys = [f"{lines.loc[i, 'order_id']}|{lines.loc[i, 'line_no']}" for i in (3, 7)]
    got = dict(quarantined(db, "order_lines"))
    assert {k: got.get(k) for k in keys} == {keys[0]: "missing_required", keys[1]: "bad_type"}
    assert len(read_frame(db, OrderLine)) == len(lines) - 2
    counts, _, _ = segment(cfg, db)
    assert counts["bad_quantity"] == 0  # the mapping kept them out of the store


def test_a_file_without_usable_quantity_is_an_error_naming_file_and_line(base, tmp_path, capsys):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, lambda d: d.assign(quantity="n/a"))
    err = cli_error(capsys, "analyze", messy, "--out", tmp_path / "out", "--no-simulate")
    assert "order_lines.csv: no usable order line among" in err and "order_lines.csv line 2" in err

    cfg, db = store_of(messy)
    assert {r for _, r in quarantined(db, "order_lines")} == {"bad_type"}
    err = cli_error(capsys, "-c", cfg, "segment")
    assert "no order lines left to bucket" in err


# ---- 2. blank product id ----------------------------------------------------------------------------


def test_blank_product_id_is_set_aside(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, lambda d: d.assign(product_id=d["product_id"].where(d.index != 4, "")))
    clean = copy(base, tmp_path / "clean")
    edit(clean, OL, lambda d: d.drop(index=[4]))
    par, dq, _ = analyze(messy)
    assert dq["blank_product_id"] == (1.0, "order_lines.csv line 6")
    same_parameters(par, analyze(clean)[0])

    _, db = store_of(messy)
    assert [r for _, r in quarantined(db, "order_lines")] == ["missing_required"]


# ---- 3. negative lead time --------------------------------------------------------------------------


def _no_negative_reorder_points(par: pd.DataFrame) -> None:
    rop = par.loc[par["name"] == "reorder_point", "value_num"]
    assert len(rop) and (rop >= 0).all()


def test_negative_lead_time_is_treated_as_missing_and_named(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    edit(messy, "product_locations.csv", lambda d: d.assign(
        lead_time_days=d["lead_time_days"].where(d.index != 0, "-30")))
    clean = copy(base, tmp_path / "clean")
    edit(clean, "product_locations.csv", lambda d: d.assign(
        lead_time_days=d["lead_time_days"].where(d.index != 0, "")))
    pl0 = pd.read_csv(base / "product_locations.csv", dtype=str).iloc[0]
    where = f"{pl0['product_id']} at {pl0['location_id']}"
    par, dq, text = analyze(messy)
    assert dq["negative_lead_time"] == (1.0, f"{where} (product_locations.csv line 2)")
    assert "negative lead time(s) treated as missing" in text and where in text
    _no_negative_reorder_points(par)
    same_parameters(par, analyze(clean)[0])

    cfg, db = store_of(messy)  # the canonical CSV mapping refuses it ...
    assert quarantined(db, "product_locations") == [(f"{pl0['product_id']}|{pl0['location_id']}", "negative")]
    cfg, db = store_of(copy(base, tmp_path / "other"))  # ... another system's mapping may let it through
    with db.begin() as conn:
        conn.exec_driver_sql("UPDATE product_location SET lead_time_days = -30 WHERE product_id = ? AND "
                             "location_id = ?", (pl0["product_id"], pl0["location_id"]))
    counts, message, text = segment(cfg, db)
    assert counts["negative_lead_time"] == 1
    assert "negative lead time(s) treated as missing" in message and f"(e.g. {where} (product_locations))" in message
    assert where in text


# ---- 4. exact duplicate order lines ----------------------------------------------------------------


def test_exact_duplicates_are_dropped_and_conflicts_set_aside(base, tmp_path):
    dup = copy(base, tmp_path / "dup")
    edit(dup, OL, lambda d: pd.concat([d, d.iloc[10:30]]))
    par, dq, _ = analyze(dup)
    assert dq["duplicate_lines"][0] == 20 and dq["conflicting_lines"][0] == 0
    base_par = analyze(copy(base, tmp_path / "base"))[0]
    same_parameters(par, base_par)

    conflict = copy(base, tmp_path / "conflict")
    edit(conflict, OL, lambda d: pd.concat([d, d.iloc[[12]].assign(quantity="999")]))
    without = copy(base, tmp_path / "without")
    edit(without, OL, lambda d: d.drop(index=[12]))
    par, dq, _ = analyze(conflict)
    n = len(pd.read_csv(base / OL))
    assert dq["conflicting_lines"] == (2.0, f"order_lines.csv line 14 | order_lines.csv line {n + 2}")
    same_parameters(par, analyze(without)[0])

    cfg, db = store_of(dup)  # identical rows under one key merge on the way in; the store holds one
    assert len(read_frame(db, OrderLine)) == n and quarantined(db, "order_lines") == []
    assert segment(cfg, db)[0]["duplicate_lines"] == 0
    _, db = store_of(conflict)
    assert [r for _, r in quarantined(db, "order_lines")] == ["duplicate", "duplicate"]


def test_without_order_keys_a_duplicate_is_equal_in_every_column(base, tmp_path):
    keyless = copy(base, tmp_path / "keyless")
    edit(keyless, OL, lambda d: pd.concat([d, d.iloc[5:8]]).drop(columns=["order_id", "line_no"]))
    ref = copy(base, tmp_path / "ref")
    edit(ref, OL, lambda d: d.drop(columns=["order_id", "line_no"]))
    par, dq, _ = analyze(keyless)
    assert dq["duplicate_lines"][0] == 3
    same_parameters(par, analyze(ref)[0])


# ---- 5. returns (negative quantities) --------------------------------------------------------------


def _returns(d: pd.DataFrame) -> pd.DataFrame:
    ret = d.iloc[[20, 40, 60]].assign(line_no="990", quantity=["-7", "-8", "-9"])
    return pd.concat([d, ret])


def test_returns_are_kept_out_of_demand_and_counted_or_netted_by_policy(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, _returns)
    par, dq, text = analyze(messy)
    assert dq["return_lines"][0] == 3 and dq["returned_quantity"][0] == 24
    assert "3 return line(s) (negative quantity) kept out of demand" in text and "24 units" in text
    base_out = copy(base, tmp_path / "base")
    same_parameters(par, analyze(base_out)[0])

    from core.paths import mappings_dir

    net = tmp_path / "net.yaml"
    net.write_text((mappings_dir() / "policy.yaml").read_text().replace("returns: exclude", "returns: net"))
    cli("analyze", messy, "--out", tmp_path / "net_out", "--no-simulate", "--policy", net)
    seg = pd.read_csv(tmp_path / "net_out" / "segments.csv", dtype={"entity_key": str})
    seg_base = pd.read_csv(tmp_path / "base_out" / "segments.csv", dtype={"entity_key": str})
    line = pd.read_csv(base / OL, dtype=str).iloc[20]
    key = f"{line['product_id']}|{line['location_id']}"
    cv = lambda s: s.loc[(s["entity"] == "product_location") & (s["dimension"] == "xyz")  # noqa: E731
                         & (s["entity_key"] == key), "metric"].iloc[0]
    assert cv(seg) != pytest.approx(cv(seg_base))  # netted: the series changed
    assert pd.read_csv(tmp_path / "net_out" / "data_quality.csv").set_index("case").loc["return_lines", "count"] == 3

    _, db = store_of(messy)  # the shipped mappings refuse negative quantities ...
    assert [r for _, r in quarantined(db, "order_lines")] == ["negative"] * 3
    cfg, db = store_of(copy(base, tmp_path / "other"))  # ... a store may still hold them
    ret = read_frame(db, OrderLine).iloc[[20, 40, 60]].assign(line_no="990", quantity=[-7.0, -8.0, -9.0])
    upsert(db, OrderLine, ret.drop(columns=["loaded_at"]))
    counts, message, _ = segment(cfg, db)
    assert counts["return_lines"] == 3 and counts["returned_quantity"] == 24 and "24 units" in message


# ---- 6. no price and no cost ------------------------------------------------------------------------


def _unpriced(folder: Path, products=None) -> None:
    def lines(d):
        hit = d["product_id"].isin(products) if products else pd.Series(True, index=d.index)
        return d.assign(net_value=d["net_value"].where(~hit, ""), cost=d["cost"].where(~hit, ""))

    def master(d):
        hit = d["id"].isin(products) if products else pd.Series(True, index=d.index)
        return d.assign(unit_price=d["unit_price"].where(~hit, ""), unit_cost=d["unit_cost"].where(~hit, ""))

    edit(folder, OL, lines)
    edit(folder, "products.csv", master)


def _abc(out: Path) -> pd.Series:
    seg = pd.read_csv(out / "segments.csv", dtype={"entity_key": str})
    return seg.query("entity == 'product_location' and dimension == 'abc'").set_index("entity_key")["value"]


def test_no_price_and_no_cost_falls_back_to_volume_with_a_warning(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    _unpriced(messy)
    par, dq, text = analyze(messy)
    n_pl = len(pd.read_csv(base / "product_locations.csv"))
    assert dq["abc_by_volume"][0] == n_pl and "ranked for ABC by volume" in text
    abc = _abc(tmp_path / "messy_out")
    assert "none" not in set(abc)
    ss = par.loc[par["name"] == "safety_stock", "value_num"]
    assert (ss > 0).sum() >= n_pl // 2  # no longer all-zero parameters
    from core.paths import mappings_dir

    vol = tmp_path / "volume.yaml"
    vol.write_text((mappings_dir() / "policy.yaml").read_text().replace("abc_measure: value ", "abc_measure: volume "))
    cli("analyze", messy, "--out", tmp_path / "vol_out", "--no-simulate", "--policy", vol)
    assert abc.sort_index().tolist() == _abc(tmp_path / "vol_out").sort_index().tolist()

    cfg, db = store_of(messy)
    counts, message, _ = segment(cfg, db)
    assert counts["abc_by_volume"] == n_pl and "ranked for ABC by volume" in message


def test_a_product_without_price_among_priced_ones_is_class_c(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    _unpriced(messy, ["P000003"])
    par, dq, _ = analyze(messy)
    abc = _abc(tmp_path / "messy_out")
    mine = abc[abc.index.str.startswith("P000003|")]
    assert len(mine) and set(mine) == {"C"} and dq["abc_no_measure"][0] == len(mine)
    cfg, db = store_of(messy)
    assert segment(cfg, db)[0]["abc_no_measure"] == len(mine)


# ---- 8. US or ambiguous dates -----------------------------------------------------------------------


def _us(d: pd.DataFrame) -> pd.DataFrame:
    for c in ("order_date", "requested_date"):
        d[c] = pd.to_datetime(d[c]).dt.strftime("%m/%d/%Y")
    return d


def test_us_dates_are_refused_by_analyze_and_pull_alike_until_declared(base, tmp_path, capsys):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, _us)
    err = cli_error(capsys, "analyze", messy, "--out", tmp_path / "out", "--no-simulate")
    assert "without an order date" in err and "order_lines.csv line 2 order_date=" in err
    assert "--date-format '%m/%d/%Y'" in err
    par, dq, _ = analyze(messy, "--date-format", "%m/%d/%Y")
    assert dq["bad_date"][0] == 0
    same_parameters(par, analyze(copy(base, tmp_path / "base"))[0])

    _, db = store_of(messy)  # the mapping reads ISO only too (a mapping can set a date format)
    assert {r for _, r in quarantined(db, "order_lines")} == {"bad_type"}


def test_ambiguous_dates_are_never_guessed_and_read_once_a_date_format_is_given(base, tmp_path, capsys):
    def early(d: pd.DataFrame) -> pd.DataFrame:  # every day <= 12: 03/04 could be either
        day = pd.to_datetime(d["order_date"])
        d["order_date"] = day.dt.strftime("%Y-%m-") + ((day.dt.day - 1) % 12 + 1).map("{:02d}".format)
        return d.drop(columns=["requested_date"])

    iso = copy(base, tmp_path / "iso")
    edit(iso, OL, early)
    messy = copy(iso, tmp_path / "messy")
    edit(messy, OL, lambda d: d.assign(order_date=pd.to_datetime(d["order_date"]).dt.strftime("%m/%d/%Y")))
    err = cli_error(capsys, "analyze", messy, "--out", tmp_path / "out", "--no-simulate")
    assert "order_lines.csv line 2 order_date=" in err and "--date-format '%m/%d/%Y'" in err
    par, _, _ = analyze(messy, "--date-format", "%m/%d/%Y")
    same_parameters(par, analyze(iso)[0])


# ---- beside the list: blank order date, repeated master rows, text in a value column -----------------


def test_blank_order_date_repeated_product_and_text_value_are_handled(base, tmp_path):
    messy = copy(base, tmp_path / "messy")
    edit(messy, OL, lambda d: d.assign(order_date=d["order_date"].where(d.index != 2, ""),
                                       net_value=d["net_value"].where(d.index != 9, "n/a")))
    edit(messy, "products.csv", lambda d: pd.concat([d, d.iloc[[0]].assign(unit_price="1")]))
    _, dq, _ = analyze(messy)
    assert dq["blank_order_date"] == (1.0, "order_lines.csv line 4")
    assert dq["bad_number"] == (1.0, "order_lines.csv line 11 net_value='n/a'")
    assert dq["master_rows_set_aside"][0] == 1 and "products.csv line" in dq["master_rows_set_aside"][1]

    _, db = store_of(messy)
    assert sorted(r for _, r in quarantined(db, "order_lines")) == ["bad_type", "missing_required"]
    assert [r for _, r in quarantined(db, "products")] == ["duplicate", "duplicate"]


def test_clean_data_reports_every_case_at_zero(base, tmp_path):
    _, dq, text = analyze(copy(base, tmp_path / "base"))
    assert dq and all(count == 0 for count, _ in dq.values()) and "no line set aside" in text
    assert {"bad_quantity", "return_lines", "abc_by_volume", "bad_date"} <= set(dq)
    assert np.isfinite([c for c, _ in dq.values()]).all()
