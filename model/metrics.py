"""Lip-sync metrics as the published anchors compute them (see DOMAIN.md).

LVE (lip vertex error), as the CodeTalker family computes it: per frame, the largest squared L2
distance over the lip vertices; averaged over every valid frame. Its square root is reported too,
in the face model's units.
"""

from __future__ import annotations

import numpy as np


def lve(pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    """Mean over frames of max over lip vertices of ||pred - true||²; (F, L, 3) each."""
    if pred_lips.shape != true_lips.shape or pred_lips.ndim != 3:
        raise ValueError(f"lip vertices must be (F, L, 3) alike, got {pred_lips.shape} and "
                         f"{true_lips.shape}")
    squared = ((pred_lips - true_lips) ** 2).sum(-1)  # (F, L)
    return float(squared.max(-1).mean())
