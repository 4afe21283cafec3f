"""The correspondence file formats a user supplies with an INFACE model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.face.base import FaceModelError
from model.face.correspondence import load_correspondence


def test_csv_and_json_rows_read_the_same(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("landmark,v0,v1,v2,w0,w1,w2\n13,5,6,7,0.2,0.3,0.5\n14,9,9,9,1,0,0\n")
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps([
        {"landmark": 13, "triangle": [5, 6, 7], "weights": [0.2, 0.3, 0.5]},
        {"landmark": 14, "vertex": 9}]))
    a, b = load_correspondence(csv_file, 10), load_correspondence(json_file, 10)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_allclose(a.weights, b.weights)
    assert a.vertex_of(13) == 7 and a.vertex_of(14) == 9


def test_out_of_range_vertices_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("landmark,vertex\n13,50\n")
    with pytest.raises(FaceModelError, match="vertex indices"):
        load_correspondence(path, 10)
