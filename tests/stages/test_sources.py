"""AudioSet segment lists become deterministic clip records, registered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.errors import CradleError
from manifests.ledger import Ledger
from stages.sources import read_audioset_csv, register_clips

SEGMENTS = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=2, num_segs=2, num_unique_labels=3, num_positive_labels=3
# YTID, start_seconds, end_seconds, positive_labels
--aE2O5G5WE, 0.000, 10.000, "/t/dd00002,/m/09x0r"
abcDEF12345, 30.000, 40.000, "/t/dd00001"
"""


def test_rows_become_clips_with_ids_from_the_source(tmp_path: Path) -> None:
    path = tmp_path / "segments.csv"
    path.write_text(SEGMENTS)
    first, second = read_audioset_csv(path)
    assert first.id == "yt---aE2O5G5WE-0-10000"
    assert first.url == "https://www.youtube.com/watch?v=--aE2O5G5WE"
    assert first.labels == ("/t/dd00002", "/m/09x0r")
    assert second.split_group == "yt-abcDEF12345"
    assert (second.start_s, second.end_s) == (30.0, 40.0)
    assert read_audioset_csv(path) == [first, second]


def test_a_malformed_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(SEGMENTS + "broken, x\n")
    with pytest.raises(CradleError, match=r"bad\.csv:6"):
        read_audioset_csv(path)


def test_real_audioset_eval_list_parses(shared: Path) -> None:
    clips = read_audioset_csv(shared / "fixtures/audioset/eval_segments.csv")
    assert len(clips) == 20371
    assert len({c.id for c in clips}) == len(clips)


def test_registering_twice_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "segments.csv"
    path.write_text(SEGMENTS)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clips = read_audioset_csv(path)
    assert len(register_clips(ledger, clips)) == 2
    assert register_clips(ledger, clips) == []
    assert [a.attempt for c in clips for a in ledger.attempts(c.id, "sources")] == [1, 1]
    ledger.close()
