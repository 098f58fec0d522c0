"""No import runs back up the floors (see tests/architecture/floors.py for the rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.floors import violations

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_runs_back_up():
    found = violations(ROOT)
    assert not found, "imports against the floors:\n" + "\n".join(map(str, found))


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(("rel", "source", "why"), [
    ("basics/errors.py", "from core.model import Run\n", "basics is below core"),
    ("connectors/sap/odata.py", "import core.store\n", "connectors is below core"),
    ("connectors/http/client.py", "from core import secrets\n", "connectors is below core"),
    ("core/sync.py", "def f():\n    from scheduler import jobs\n", "core is below scheduler"),
    ("core/sync.py", "from connectors.sap.odata import SapODataConnector\n", "core reaches connectors only"),
    ("core/cycle.py", "from sandbox.server import serve\n", "only the segbridge shell"),
    ("scheduler/jobs.py", "from segbridge.cli import app\n", "scheduler is below segbridge"),
    ("sandbox/wms.py", "from core.model import Run\n", "sandbox stands beside"),
    ("core/planning/engine.py", "from core.store import read_frame\n", "the planning room is pure"),
    ("core/planning/segmentation/abc.py", "from ...model import Run\n", "the planning room is pure"),
    ("core/planning/demand.py", "def f():\n    from rich.console import Console\n", "no rich"),
    ("core/planning/policy.py", "import sqlalchemy as sa\n", "no sqlalchemy"),
    ("connectors/sql/source.py", "from ...core import model\n", "connectors is below core"),  # relative, resolved
    ("core/planning/engine.py", "from pyspark.sql import SparkSession\n", "only core.spark_engine imports pyspark"),
    ("core/sync.py", "def f():\n    import pyspark\n", "only core.spark_engine imports pyspark"),
])
def test_an_upward_import_is_caught(tmp_path, rel, source, why):
    root = _tree(tmp_path, {rel: source})
    found = violations(root)
    if why is None:
        assert found == []
    else:
        assert len(found) == 1 and why in found[0].why, found
        assert found[0].path == rel and found[0].line >= 1


def test_downward_and_allowed_imports_pass(tmp_path):
    root = _tree(tmp_path, {
        "segbridge/cli.py": "from sandbox.server import serve\nfrom scheduler import jobs\nfrom core import sync\n",
        "scheduler/alerts.py": "from connectors.http.client import HttpClient\nfrom basics import secrets\n",
        "core/sync.py": "from connectors import registry\nfrom connectors.base import Connector\n",
        "connectors/sap/odata.py": "from basics.yaml_loader import StrictModel\nfrom connectors.http import client\n",
        "sandbox/sap_odata.py": "from connectors.sap.metadata import parse_metadata\n",
        "basics/secrets.py": "import os\nimport re\n",
        "core/planning/policy.py": "from basics.yaml_loader import load_yaml_model\nfrom core.paths import mappings_dir\n"
                                   "from core.planning.segmentation import abc\nimport pandas as pd\n",
        "core/spark_engine/spark_backend.py": "from pyspark.sql import functions as F\nfrom core.planning import engine\n",
    })
    assert violations(root) == []
