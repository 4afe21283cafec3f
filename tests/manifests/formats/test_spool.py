"""Row spools: long per-frame arrays collected on disk, saved without becoming resident."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from manifests.files import atomic_save_npz, load_npz
from manifests.formats.spool import BLOCK_ROWS, RowSpool, discard_leftovers


def _spool(folder: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
    expected = np.random.default_rng(0).normal(size=(rows, 478, 3)).astype(np.float32)
    spool = RowSpool(folder, (478, 3))
    for row in expected:
        spool.append(row)
    return spool.finish(), expected


@pytest.mark.parametrize("rows", [0, 1, BLOCK_ROWS, BLOCK_ROWS * 2 + 7])
def test_rows_come_back_in_order_and_the_file_goes_with_them(tmp_path: Path, rows: int) -> None:
    got, expected = _spool(tmp_path, rows)
    assert got.shape == (rows, 478, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    first = got[:1]  # a view keeps the rows readable after the array itself is dropped
    del got
    gc.collect()
    np.testing.assert_array_equal(first, expected[:1])
    del first
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_discarded_rows_leave_nothing(tmp_path: Path) -> None:
    spool = RowSpool(tmp_path / "faces", (3,))
    spool.append(np.zeros(3))
    spool.discard()
    assert list((tmp_path / "faces").iterdir()) == []


def test_a_killed_runs_spool_is_found_by_its_name(tmp_path: Path) -> None:
    killed = RowSpool(tmp_path, (3,), name="yt-abc-0-10000")  # never finished: as after a kill
    other = RowSpool(tmp_path, (3,), name="yt-abc-0-10000b")
    assert discard_leftovers(tmp_path, "yt-abc-0-10000") == [killed.path]
    assert sorted(tmp_path.iterdir()) == [other.path]


def test_a_spooled_array_saves_like_an_in_memory_one(tmp_path: Path) -> None:
    spooled, expected = _spool(tmp_path / "spool", 300)
    atomic_save_npz(tmp_path / "a.npz", 1, {"landmarks": spooled, "fps": np.array(30.0)})
    atomic_save_npz(tmp_path / "b.npz", 1, {"landmarks": expected, "fps": np.array(30.0)})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz", "test", 1)
    np.testing.assert_array_equal(loaded["landmarks"], expected)
    # A view of the mapping (not a whole file) is saved from memory, and still correctly.
    atomic_save_npz(tmp_path / "c.npz", 1, {"landmarks": spooled[10:20]})
    np.testing.assert_array_equal(load_npz(tmp_path / "c.npz", "test", 1)["landmarks"],
                                  expected[10:20])


_RESIDENT = """
import resource, sys
from pathlib import Path
import numpy as np
from manifests.files import atomic_save_npz
from manifests.formats.spool import RowSpool
folder = Path(sys.argv[1])
spool = RowSpool(folder, (478, 3))
row = np.ones((478, 3), np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(40_000):  # 230 MB of landmarks: 22 minutes of 30 fps video
    spool.append(row)
atomic_save_npz(folder / "track.npz", 1, {"landmarks": spool.finish()})
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_collecting_and_saving_long_rows_keeps_memory_flat(tmp_path: Path) -> None:
    grew_mb = int(subprocess.run([sys.executable, "-c", _RESIDENT, str(tmp_path)], check=True,
                                 capture_output=True, text=True).stdout)
    assert grew_mb < 40, f"peak memory grew by {grew_mb} MB collecting and saving 230 MB of rows"
