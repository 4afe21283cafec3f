"""Atomic file writes: a reader sees the old file or the whole new one, never a partial one.

Every write goes to a temporary name in the destination's folder, is flushed to disk, then renamed
into place; a crash leaves at worst a stray `.tmp-*` file that the next write of that path ignores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

TEMP_PREFIX = ".tmp-"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yields a temporary path beside `destination`; renames it into place if the block succeeds.

    For writers that want a filename (ffmpeg, pyarrow, numpy). The temporary name keeps the
    destination's suffix so that tools choosing a format by extension still work.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(
        f"{TEMP_PREFIX}{destination.stem}-{uuid.uuid4().hex[:12]}{destination.suffix}"
    )
    # Created like any new file (0666 less the umask), unlike mkstemp's 0600.
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
        _fsync_dir(destination.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(destination: Path, data: bytes) -> Path:
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
    return Path(destination)


def atomic_write_text(destination: Path, text: str) -> Path:
    return atomic_write_bytes(destination, text.encode("utf-8"))


def atomic_write_json(destination: Path, data: Any) -> Path:
    """Writes JSON with sorted keys, so equal data gives byte-identical files."""
    return atomic_write_text(destination, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_save_npz(destination: Path, format_version: int,
                    arrays: dict[str, np.ndarray]) -> Path:
    """Writes arrays as a compressed npz stamped with its format version (no pickles).

    The archive is what `np.savez_compressed` writes, with two differences: members carry a
    fixed timestamp, so equal arrays give byte-identical files, and a memory-mapped array (a
    `RowSpool`'s, or `np.load(..., mmap_mode="r")`) is copied from its file with plain reads, so
    a long clip's landmarks never become resident just to be saved.
    """
    stamped = {"format_version": np.array(format_version, dtype=np.int64), **arrays}
    with atomic_path(Path(destination)) as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, value in stamped.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as handle:
                _write_npy(handle, value)
    return Path(destination)


def _write_npy(handle: IO[bytes], value: np.ndarray) -> None:
    if not (isinstance(value, np.memmap) and isinstance(value.base, mmap.mmap)
            and value.flags.c_contiguous and value.filename):
        np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)
        return
    # A whole mapping (not a view into one): its bytes lie in one run of the file.
    np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(value))
    left = value.nbytes
    with open(value.filename, "rb") as source:
        source.seek(value.offset)
        while left:
            block = source.read(min(left, 1 << 20))
            if not block:
                raise OSError(f"{value.filename} ended {left} bytes before its mapped array")
            handle.write(block)
            left -= len(block)


def load_npz(path: Path, kind: str, format_version: int) -> dict[str, np.ndarray]:
    """Reads a stamped npz written by `atomic_save_npz`, refusing another format version."""
    with np.load(path) as data:
        found = int(data["format_version"])
        if found != format_version:
            raise ValueError(f"{path}: {kind} format {found}, this Cradle reads {format_version}")
        return {key: data[key] for key in data.files if key != "format_version"}


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (media and shards can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    # The rename itself must reach the disk too, or a power cut can undo it.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
