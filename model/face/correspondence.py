"""Reading the MediaPipe-to-vertex correspondence file that a user supplies with an INFACE model.

Two formats, one row per MediaPipe landmark that the model covers (landmarks not listed are not
fitted, so a model may cover a subset, e.g. the 434 INFACE fitting used):

- CSV with a header, either `landmark,vertex` (the landmark sits on a vertex) or
  `landmark,v0,v1,v2,w0,w1,w2` (inside triangle v0 v1 v2 with barycentric weights w0 w1 w2).
- JSON: a list of objects, `{"landmark": 13, "vertex": 5021}` or
  `{"landmark": 14, "triangle": [10, 11, 12], "weights": [0.2, 0.3, 0.5]}`.

Both must include landmarks 13, 14 (mouth aperture) and 61, 291 (mouth width).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from manifests.facemesh import LANDMARKS
from model.face.base import Correspondence, FaceModelError


def load_correspondence(path: Path, vertices: int) -> Correspondence:
    """Reads a correspondence file and checks its indices against the model.

    Args:
        path: a .csv or .json file in one of the formats above.
        vertices: the model's vertex count N.

    Raises:
        FaceModelError: the file is missing, malformed, or names a vertex or landmark out of range.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceModelError(f"correspondence file {path} not found; see model/face/"
                             f"correspondence.py for its format")
    try:
        if path.suffix.lower() == ".json":
            rows = [_json_row(item) for item in json.loads(path.read_text())]
        else:
            with open(path, newline="") as handle:
                rows = [_csv_row(item) for item in csv.DictReader(handle)]
    except (KeyError, ValueError, TypeError) as e:
        raise FaceModelError(f"{path}: malformed correspondence row ({e!r})") from e
    if not rows:
        raise FaceModelError(f"{path}: the correspondence lists no landmarks")
    landmarks = np.array([r[0] for r in rows], dtype=np.int64)
    tris = np.array([r[1] for r in rows], dtype=np.int64)
    weights = np.array([r[2] for r in rows], dtype=np.float64)
    if landmarks.min() < 0 or landmarks.max() >= LANDMARKS:
        raise FaceModelError(f"{path}: landmark indices must lie in [0, {LANDMARKS})")
    if tris.min() < 0 or tris.max() >= vertices:
        raise FaceModelError(f"{path}: vertex indices must lie in [0, {vertices}) for this model")
    if not np.allclose(weights.sum(1), 1.0, atol=1e-4):
        raise FaceModelError(f"{path}: barycentric weights must sum to 1 on every row")
    return Correspondence(landmarks, tris, weights)


Row = tuple[int, list[int], list[float]]


def _csv_row(item: dict[str, str]) -> Row:
    if "vertex" in item:
        return int(item["landmark"]), [int(item["vertex"])] * 3, [1.0, 0.0, 0.0]
    return (int(item["landmark"]), [int(item[f"v{k}"]) for k in range(3)],
            [float(item[f"w{k}"]) for k in range(3)])


def _json_row(item: dict[str, Any]) -> Row:
    if "vertex" in item:
        return int(item["landmark"]), [int(item["vertex"])] * 3, [1.0, 0.0, 0.0]
    tri, weights = list(item["triangle"]), list(item["weights"])
    if len(tri) != 3 or len(weights) != 3:
        raise ValueError("triangle and weights need three entries each")
    return int(item["landmark"]), [int(v) for v in tri], [float(w) for w in weights]
