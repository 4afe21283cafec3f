"""Reading frames ahead on a thread: same frames, same errors, no thread left behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stages.faces.video_frames import iter_frames, read_ahead


def test_frames_read_ahead_equal_frames_read_in_turn(corpus: Path) -> None:
    video = corpus / "clean_cry.mp4"
    ahead = list(read_ahead(iter_frames(video), depth=3))
    in_turn = list(iter_frames(video))
    assert [f.index for f in ahead] == list(range(len(in_turn)))
    assert all(a.time_s == b.time_s and np.array_equal(a.image, b.image)
               for a, b in zip(ahead, in_turn, strict=True))


def test_an_error_arrives_after_the_items_before_it() -> None:
    def broken() -> Iterator[int]:
        yield from range(5)
        raise OSError("disk gone")

    got: list[int] = []
    with pytest.raises(OSError, match="disk gone"):
        got.extend(read_ahead(broken(), depth=2))
    assert got == [0, 1, 2, 3, 4]


def test_stopping_early_ends_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    items = read_ahead(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert closed.is_set() and threading.active_count() == before
