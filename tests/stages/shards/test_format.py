"""The written samples are what docs/data-format.md says: members, dtypes, shapes, JSON keys."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

from manifests.formats.sample import ARRAYS, METADATA, METADATA_KEYS, SAMPLE_RATE, VAD_COLUMNS
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import EXPRESSION, FPS, SMALL, add_curated, clips_of, new_home


def test_every_written_member_is_documented_with_its_dtype_and_shape(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(1, 1))
    card = build_dataset(ledger, root, SMALL, "infant")
    with tarfile.open(root.shards / "infant" / card.shards[0].path) as tar:
        files = {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                 for m in tar.getmembers()}
    key = sorted(files)[0].split(".")[0]
    fields = {name.split(".", 1)[1] for name in files if name.startswith(key + ".")}
    assert fields == {m.field for m in ARRAYS} | {"audio.wav", METADATA}
    meta = json.loads(files[f"{key}.{METADATA}"])
    sizes = {"T": meta["frames"], "K": EXPRESSION, "I": 4, "A": 1}
    for member in ARRAYS:
        array = np.load(io.BytesIO(files[f"{key}.{member.field}"]))
        symbols = [s.strip() for s in member.shape.strip("()").split(",") if s.strip()]
        shape = tuple(sizes[s] if s in sizes else int(s) for s in symbols)
        assert (array.dtype.name, array.shape) == (member.dtype, shape), member.name
    assert set(meta) == {k.name for k in METADATA_KEYS}
    assert meta["vad_columns"] == list(VAD_COLUMNS) and meta["sample_rate"] == SAMPLE_RATE
    assert meta["fps"] == FPS
