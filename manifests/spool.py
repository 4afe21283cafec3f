"""Arrays built row by row on disk, so a long clip's per-frame data never has to fit in memory.

A `RowSpool` appends fixed-shape rows (one frame's landmarks, say) to a file in blocks; `finish`
maps the whole array read-only. The file is deleted with the last reference to the array, and
`manifests.files.atomic_save_npz` copies a mapped array from its file with plain reads, so the
rows become resident neither while they are collected nor while they are saved.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path

import numpy as np

from manifests.files import TEMP_PREFIX

BLOCK_ROWS = 256  # rows held in memory between writes: ~1.4 MB of FaceMesh landmarks


class RowSpool:
    """Collects rows of one shape and dtype in a temporary file in `folder`.

    A crash leaves at worst a stray `.tmp-*.rows` file, like an interrupted atomic write.
    """

    def __init__(self, folder: Path, row_shape: tuple[int, ...], dtype: type = np.float32) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".rows", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
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
