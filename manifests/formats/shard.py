"""The shard file format: deterministic WebDataset tars, their done markers and their checks.

A shard `<name>.tar` is complete only when `<name>.tar.done` sits beside it and names the tar's
size and sha256. Writers put the tar in place first and the marker last; readers and the shards
stage check both before trusting a shard, so a truncated or half-written tar is never read.

The tars are byte-reproducible: members in sorted order, and every header field that usually
carries the writer's clock or account (mtime, uid, gid, uname, gname, mode) fixed.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manifests.errors import CradleError
from manifests.files import atomic_path, atomic_write_json, sha256_file

DONE_SUFFIX = ".done"
MANIFEST_SUFFIX = ".parquet"
_MODE = 0o444  # read-only: a shard is never edited in place


class IncompleteShardError(CradleError):
    """A shard is missing, truncated, changed, or lacks its done marker: rebuild it."""


@dataclass(frozen=True)
class ShardStamp:
    """What the done marker certifies about a finished tar."""

    sha256: str
    size_bytes: int
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size_bytes": self.size_bytes, "samples": self.samples}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardStamp:
        return cls(sha256=str(data["sha256"]), size_bytes=int(data["size_bytes"]),
                   samples=int(data["samples"]))


def done_path(tar: Path) -> Path:
    return tar.with_name(tar.name + DONE_SUFFIX)


def manifest_path(tar: Path) -> Path:
    return tar.with_name(tar.name.removesuffix(".tar") + MANIFEST_SUFFIX)



def tar_bytes(samples: Sequence[tuple[str, Mapping[str, bytes]]]) -> bytes:
    """One tar holding each sample's files as `<key>.<field>`, in the order given.

    Args:
        samples: (key, {field: bytes}) pairs; callers sort them, fields are sorted here.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, files in samples:
            for field in sorted(files):
                data = files[field]
                info = tarfile.TarInfo(f"{key}.{field}")
                info.size, info.mtime, info.mode = len(data), 0, _MODE
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_shard(tar: Path, samples: Sequence[tuple[str, Mapping[str, bytes]]]) -> ShardStamp:
    """Writes the tar atomically and then its done marker; returns what the marker certifies."""
    data = tar_bytes(samples)
    with atomic_path(tar) as tmp:
        tmp.write_bytes(data)
    stamp = ShardStamp(hashlib.sha256(data).hexdigest(), len(data), len(samples))
    atomic_write_json(done_path(tar), stamp.to_dict())
    return stamp


def verify_shard(tar: Path, expected_sha256: str | None = None) -> ShardStamp:
    """Checks that a shard is whole: done marker present, size and sha256 as certified.

    Args:
        tar: the shard.
        expected_sha256: the hash recorded elsewhere (dataset card, ledger), checked as well.

    Raises:
        IncompleteShardError: what is wrong, naming the file.
    """
    marker = done_path(tar)
    if not tar.is_file():
        raise IncompleteShardError(f"shard {tar} is missing")
    if not marker.is_file():
        raise IncompleteShardError(f"shard {tar} has no done marker: it was never finished")
    try:
        stamp = ShardStamp.from_dict(json.loads(marker.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise IncompleteShardError(f"done marker {marker} is unreadable: {e}") from e
    size = tar.stat().st_size
    if size != stamp.size_bytes:
        raise IncompleteShardError(f"shard {tar} has {size} bytes, its marker says "
                                   f"{stamp.size_bytes}: truncated or overwritten")
    actual = sha256_file(tar)
    for wanted in {stamp.sha256, expected_sha256 or stamp.sha256}:
        if actual != wanted:
            raise IncompleteShardError(f"shard {tar} has sha256 {actual}, expected {wanted}")
    return stamp
