"""Writing one shard: its samples' bytes into a deterministic tar, a done marker, a manifest.

The tar and its marker are the shard; the parquet manifest beside it lists the samples for pandas
and DuckDB without opening the tar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from manifests.files import atomic_path
from manifests.formats.shard import ShardStamp, manifest_path, write_shard
from stages.shards.config import ShardsConfig
from stages.shards.plan import SampleSpec
from stages.shards.sample import ClipInputs, manifest_row, sample_files

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = pa.schema([
    ("sample_key", pa.string()),
    ("clip_id", pa.string()),
    ("shard", pa.string()),
    ("split", pa.string()),
    ("split_group", pa.string()),
    ("source", pa.string()),
    ("labels", pa.list_(pa.string())),
    ("start_frame", pa.int64()),
    ("end_frame", pa.int64()),
    ("frames", pa.int64()),
    ("fps", pa.float64()),
    ("start_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("fingerprint", pa.string()),
])


def write_one_shard(tar: Path, name: str, samples: Sequence[SampleSpec],
                    cfg: ShardsConfig) -> ShardStamp:
    """Writes the shard `tar` (named `name` in manifests) holding `samples` in key order.

    Raises:
        OSError, ValueError: an input file vanished or changed since planning; the shard is not
            finished (no done marker), so nothing will read it.
    """
    ordered = sorted(samples, key=lambda s: s.key)
    table = pa.Table.from_pylist([manifest_row(s, name) for s in ordered], schema=MANIFEST_SCHEMA)
    with atomic_path(manifest_path(tar)) as tmp:
        pq.write_table(table, tmp)
    members: list[tuple[str, dict[str, bytes]]] = []
    loaded: dict[str, ClipInputs] = {}  # one clip at a time: its windows are adjacent by key
    for spec in ordered:
        if spec.clip.id not in loaded:
            loaded = {spec.clip.id: ClipInputs.load(spec)}
        members.append((spec.key, sample_files(spec, loaded[spec.clip.id], cfg)))
    stamp = write_shard(tar, members)  # the done marker goes last: the shard is now complete
    log.info("shards: wrote %s (%d samples, %.1f MB)", name, stamp.samples,
             stamp.size_bytes / 1e6)
    return stamp


def read_manifest(tar: Path) -> pa.Table:
    """The shard's manifest; raises OSError or pyarrow's error when it is missing or damaged."""
    return pq.read_table(manifest_path(tar), schema=MANIFEST_SCHEMA)
