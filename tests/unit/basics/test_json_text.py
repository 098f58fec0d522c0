"""basics.json_text: orjson's speed, refusing what orjson would write otherwise."""

from __future__ import annotations

import json
from datetime import datetime

from basics.json_text import dumps_rows


def test_dumps_rows_writes_plain_rows_and_refuses_what_sqlite_would_store_otherwise():
    assert dumps_rows([("A1", 2.5, None, True, 3)]) == '[["A1",2.5,null,true,3]]'
    assert json.loads(dumps_rows([("Müller 😀",)])) == [["Müller 😀"]]
    assert dumps_rows([("a", float("nan"))]) is None  # orjson would write null
    assert dumps_rows([("a", float("inf"))]) is None
    assert dumps_rows([("a\x00b",)]) is None  # SQLite's JSON functions cut at NUL
    assert dumps_rows([(datetime(2024, 1, 1),)]) is None  # the driver's spelling, not orjson's
    assert dumps_rows([(b"raw",)]) is None
    assert dumps_rows([(1 << 70,)]) is None
