"""Tests mirror the code: the test of `core/writeback/plan.py` is `tests/unit/core/writeback/test_plan.py`.

Every module of the packages below (recursively, `__init__.py` and `__main__.py` aside) must have
its test file at that place, so a reader finds a module's tests from its path and a new module
without tests is noticed here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIRRORED = ["core/writeback", "core/reconcile", "core/spark_engine", "connectors"]
NOT_MODULES = {"__init__.py", "__main__.py"}


def expected_test(module: Path) -> Path:
    """core/writeback/plan.py -> tests/unit/core/writeback/test_plan.py (both relative to the root)."""
    return Path("tests", "unit", *module.parent.parts, f"test_{module.name}")


def missing_tests(root: Path, packages: list[str] = MIRRORED) -> list[str]:
    """'module -> expected test file' for every module of `packages` whose test file is absent."""
    out = []
    for package in packages:
        for module in sorted((root / package).rglob("*.py")):
            if module.name in NOT_MODULES or "__pycache__" in module.parts:
                continue
            rel = module.relative_to(root)
            if not (root / expected_test(rel)).is_file():
                out.append(f"{rel} -> {expected_test(rel)}")
    return out


def test_every_module_has_its_test_file():
    missing = missing_tests(ROOT)
    assert not missing, "modules without their test file (tests/unit/<path>/test_<module>.py):\n" + "\n".join(
        f"  {m}" for m in missing)


def test_the_packages_exist():
    for package in MIRRORED:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_a_missing_test_is_listed(tmp_path):
    for rel in ["connectors/__init__.py", "connectors/base.py", "connectors/sap/__init__.py",
                "connectors/sap/odata.py", "connectors/sap/batch.py", "connectors/sap/__pycache__/odata.py",
                "core/writeback/__init__.py", "core/writeback/plan.py", "core/writeback/__main__.py",
                "tests/unit/connectors/test_base.py", "tests/unit/connectors/sap/test_batch.py",
                "tests/unit/test_plan.py"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert missing_tests(tmp_path, ["core/writeback", "connectors"]) == [
        "core/writeback/plan.py -> tests/unit/core/writeback/test_plan.py",
        "connectors/sap/odata.py -> tests/unit/connectors/sap/test_odata.py"]
