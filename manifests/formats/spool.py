"""Arrays built row by row on disk, so a long clip's per-frame data never has to fit in memory.

A `RowSpool` appends fixed-shape rows (one frame's landmarks, say) to a file in blocks; `finish`
maps the whole array read-only. The file is deleted with the last reference to the array, and
`manifests.files.atomic_save_npz` copies a mapped array from its file with plain reads, so the
rows become resident neither while they are collected nor while they are saved.
"""

from __future__ import annotations

import uuid
import weakref
from pathlib import Path

import numpy as np

from manifests.files import TEMP_PREFIX

BLOCK_ROWS = 256  # rows held in memory between writes: ~1.4 MB of FaceMesh landmarks
SUFFIX = ".rows"


class RowSpool:
    """Collects rows of one shape and dtype in a temporary file `.tmp-<name>-*.rows` in `folder`.

    A kill leaves the file behind, like an interrupted atomic write; `discard_leftovers` removes
    it when the same work (the same `name`) starts again.
    """

    def __init__(self, folder: Path, row_shape: tuple[int, ...], dtype: type = np.float32,
                 name: str = "spool") -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{TEMP_PREFIX}{name}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        self._file = open(self.path, "xb")  # noqa: SIM115 (closed by finish or discard)
        self._block: np.ndarray = np.empty((BLOCK_ROWS, *row_shape), dtype)
        self._filled = 0
        self.rows = 0

    def append(self, row: np.ndarray) -> None:
        self._block[self._filled] = row
        self._filled += 1
        self.rows += 1
        if self._filled == BLOCK_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._block[: self._filled].tobytes())
        self._filled = 0

    def finish(self) -> np.ndarray:
        """The rows as a read-only `(rows, *row_shape)` array mapped from the file."""
        self._flush()
        self._file.close()
        shape = (self.rows, *self._block.shape[1:])
        if self.rows == 0:  # an empty file cannot be mapped
            self.path.unlink(missing_ok=True)
            return np.empty(shape, self._block.dtype)
        rows = np.memmap(self.path, self._block.dtype, mode="r", shape=shape)
        # Views keep their base alive, so the file goes only when nothing can read it any more.
        weakref.finalize(rows, self.path.unlink, missing_ok=True)
        return rows

    def discard(self) -> None:
        """Drops the rows (the work that produced them failed)."""
        self._file.close()
        self.path.unlink(missing_ok=True)


def discard_leftovers(folder: Path, name: str) -> list[Path]:
    """Deletes the spools a killed run of the work called `name` left in `folder`.

    Only for work that runs once at a time (one clip of one stage): a live spool of the same
    name would be deleted too.
    """
    stale = sorted(Path(folder).glob(f"{TEMP_PREFIX}{name}-{'[0-9a-f]' * 12}{SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
