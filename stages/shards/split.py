"""Leak-free splits: a source video's split is a pure function of its group and the ratios.

Hashing the group (not drawing at random, not counting what is already in a split) means a video
never changes split when other videos arrive, across versions and machines, and every clip of one
video lands in one split, so validation never sees a face the model trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

SPLITS = ("train", "val", "test")
_SALT = b"cradle-split-v1\0"  # changing it reshuffles every video: never do it silently


def split_of(group: str, ratios: Mapping[str, float]) -> str:
    """The split of a source video.

    Args:
        group: the clip's `split_group` (the source video).
        ratios: fraction per split, summing to 1, e.g. {"train": 0.9, "val": 0.05, "test": 0.05}.
    """
    digest = hashlib.sha256(_SALT + group.encode("utf-8")).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    edge = 0.0
    for name in SPLITS:
        edge += ratios.get(name, 0.0)
        if point < edge:
            return name
    # Rounding can leave the last sliver past the final edge: it belongs to the last used split.
    return [name for name in SPLITS if ratios.get(name, 0.0) > 0][-1]
