"""neunet.store.schema: how parameters, summaries and names are encoded into a run's index."""
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from neunet.store import schema as S


def test_to_json_takes_numpy_paths_sets_and_non_finite_numbers():
    text = S.to_json({"a": np.float32(0.5), "b": np.arange(3), "p": Path("/x/y"),
                      "s": {3, 1}, "nan": math.nan})
    back = json.loads(text)
    assert back["a"] == 0.5 and back["b"] == [0, 1, 2] and back["p"] == "/x/y"
    assert back["s"] == [1, 3] and math.isnan(back["nan"])
    with pytest.raises(TypeError, match="cannot store a object"):
        S.to_json({"x": object()})


def test_mirror_cells_flatten_lists_and_matrices_and_memoize_by_object():
    memo = {}
    assert S.mirror_cell(0.25, memo) == 0.25 and S.mirror_cell(np.int64(3), memo) == 3
    assert S.mirror_cell([0.1, 0.2], memo) == "0.1, 0.2"
    mat = [[0, 1], [1, 0]]
    cell = S.mirror_cell(mat, memo)
    assert cell.startswith("matrix 2x2 #") and S.mirror_cell(mat, memo) is cell
    assert S.flat_value({"b": 1, "a": 2}).startswith("{a, b} #")
    assert S.stored_summary({1: np.float32(0.5), "n": None}) == {"1": 0.5, "n": None}


def test_schema_and_quoted_names_work_in_sqlite():
    db = sqlite3.connect(":memory:")
    db.executescript(S.SCHEMA)
    name = S.quote_identifier('p:odd "name"')
    db.execute(f"ALTER TABLE tasks ADD COLUMN {name}")
    db.execute(f"INSERT INTO tasks (tid, params, {name}) VALUES ('t', '{{}}', 1.5)")
    assert db.execute(f"SELECT {name} FROM tasks").fetchone() == (1.5,)
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {
        "tasks", "meta", "blobs"}
    assert S.INLINE_DATA_FILE == S.INDEX_NAME
