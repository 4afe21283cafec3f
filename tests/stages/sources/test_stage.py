"""AudioSet segment lists become deterministic clip records, registered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.ledger import Ledger
from stages.sources.rows import SourceProblem
from stages.sources.stage import read_audioset_csv, register_clips

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


def test_a_malformed_row_is_reported_and_skipped(tmp_path: Path) -> None:
    """Used to raise CradleError for the whole list: one bad row cost every good one."""
    path = tmp_path / "bad.csv"
    path.write_text(SEGMENTS + "broken, x\n")
    problems: list[SourceProblem] = []
    assert len(read_audioset_csv(path, problems=problems)) == 2
    assert [str(p) for p in problems] == [
        "bad.csv:6: expected 4 fields (YTID, start_seconds, end_seconds, positive_labels), "
        "found 2"]


def test_real_audioset_eval_list_parses(shared: Path) -> None:
    problems: list[SourceProblem] = []
    clips = read_audioset_csv(shared / "fixtures/audioset/eval_segments.csv", problems=problems)
    assert len(clips) == 20371 and problems == []
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


# -- selection by label, URL lists, merging ----------------------------------------------------

INFANT = ("Baby cry, infant cry", "Baby laughter", "Babbling")


def _independent_infant_count(audioset: Path, csv_name: str) -> int:
    """Counts rows another way: MIDs from class_labels_indices.csv, a recursive tree walk,
    pandas for the CSV."""
    import json

    import pandas as pd

    index = pd.read_csv(audioset / "class_labels_indices.csv")
    roots = set(index.loc[index.display_name.isin(INFANT), "mid"])
    assert len(roots) == 3
    tree = {n["id"]: n["child_ids"] for n in json.loads((audioset / "ontology.json").read_text())}

    def below(mid: str) -> set[str]:
        return {mid}.union(*(below(child) for child in tree[mid]))

    wanted = set().union(*(below(mid) for mid in roots))
    rows = pd.read_csv(audioset / csv_name, skiprows=3, header=None, quotechar='"',
                       skipinitialspace=True, names=["ytid", "start", "end", "labels"])
    return int(rows["labels"].str.split(",").map(lambda ls: bool(wanted & set(ls))).sum())


@pytest.mark.parametrize("csv_name", ["eval_segments.csv", "balanced_train_segments.csv"])
def test_infant_selection_matches_an_independent_count(shared: Path, csv_name: str) -> None:
    from stages.sources.ontology import Ontology, Selection, select

    audioset = shared / "fixtures/audioset"
    ontology = Ontology.load(audioset / "ontology.json")
    chosen = select(read_audioset_csv(audioset / csv_name), Selection.load("infant_vocalisation"),
                    ontology)
    assert len(chosen) == _independent_infant_count(audioset, csv_name)
    assert len(chosen) > 100


def test_descendants_and_exclusions_follow_the_ontology(shared: Path) -> None:
    from stages.sources.ontology import Ontology, Selection, select

    ontology = Ontology.load(shared / "fixtures/audioset/ontology.json")
    speech = ontology.mid("Speech")
    assert ontology.mid("Baby laughter") == "/t/dd00001"
    assert ontology.mid("Child speech, kid speaking") in ontology.descendants(["Human voice"])
    clips = read_audioset_csv(shared / "fixtures/audioset/eval_segments.csv")
    infant = Selection.load("infant_vocalisation")
    without_speech = select(clips, infant.with_exclude(["Speech"]), ontology)
    assert without_speech and len(without_speech) < len(select(clips, infant, ontology))
    speech_family = ontology.descendants(["Speech"])
    assert speech in speech_family and not any(speech_family & set(c.labels)
                                               for c in without_speech)


def test_unknown_labels_and_selections_are_readable_errors(shared: Path) -> None:
    from manifests.errors import ConfigError
    from stages.sources.ontology import Ontology, Selection

    ontology = Ontology.load(shared / "fixtures/audioset/ontology.json")
    with pytest.raises(ConfigError, match="Baby cry"):
        ontology.mid("Baby crying")
    with pytest.raises(ConfigError, match="infant_vocalisation"):
        Selection.load("no_such_selection")


@pytest.mark.parametrize("url", [
    "https://youtu.be/dQw4w9WgXcQ?t=42",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ",
    "https://www.youtube.com/embed/dQw4w9WgXcQ?start=3",
    "https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=30s",
    "http://youtube.com/watch?feature=share&v=dQw4w9WgXcQ",
])
def test_youtube_urls_normalise_to_one_spelling(url: str) -> None:
    from stages.sources.stage import clip_for

    clip = clip_for(url, 30.0, 40.0)
    assert clip.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert (clip.id, clip.split_group) == ("yt-dQw4w9WgXcQ-30000-40000", "yt-dQw4w9WgXcQ")


def test_url_lists_take_any_url_and_local_files(tmp_path: Path) -> None:
    from stages.sources.stage import read_url_list

    (tmp_path / "baby.mp4").write_bytes(b"")
    path = tmp_path / "urls.csv"
    path.write_text("url,start,end,labels\n"
                    "https://youtu.be/dQw4w9WgXcQ,1,3,Baby laughter\n"
                    "https://example.org/v/1.mp4,0,5,\"Baby cry, infant cry;Babbling\"\n"
                    "baby.mp4,2,4,\n")
    youtube, other, local = read_url_list(path)
    assert youtube.id == "yt-dQw4w9WgXcQ-1000-3000"
    assert other.labels == ("Baby cry, infant cry", "Babbling")
    assert other.id.startswith("url-") and other.id.endswith("-0-5000")
    assert local.url == (tmp_path / "baby.mp4").as_uri() and local.id.startswith("file-")
    assert read_url_list(path) == [youtube, other, local]  # ids are stable


def test_overlapping_and_touching_segments_of_a_video_merge() -> None:
    from stages.sources.stage import clip_for, merge_segments

    url = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    merged = merge_segments([
        clip_for(url, 10, 20, ["/t/dd00002"]), clip_for(url, 15, 25, ["/t/dd00001"]),
        clip_for(url, 25, 30, ["/t/dd00002"]), clip_for(url, 40, 50),
        clip_for("https://youtu.be/aaaaaaaaaaa", 12, 18),
    ])
    assert [(c.id, c.labels) for c in merged] == [
        ("yt-aaaaaaaaaaa-12000-18000", ()),
        ("yt-dQw4w9WgXcQ-10000-30000", ("/t/dd00002", "/t/dd00001")),
        ("yt-dQw4w9WgXcQ-40000-50000", ()),
    ]
    assert len(merge_segments([clip_for(url, 10, 20), clip_for(url, 21, 30)], gap_s=1.0)) == 1


def test_collect_selects_merges_and_keeps_url_lists_whole(shared: Path, tmp_path: Path) -> None:
    import shutil

    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    audioset = tmp_path / "audioset"
    audioset.mkdir()
    shutil.copy(shared / "fixtures/audioset/ontology.json", audioset)
    (audioset / "segments.csv").write_text(SEGMENTS)
    urls = tmp_path / "urls.csv"
    urls.write_text("url,start,end,labels\nhttps://youtu.be/dQw4w9WgXcQ,1,3,\n")
    collected = collect([audioset / "segments.csv", urls], SourcesConfig())
    clips, problems = collected.clips, collected.problems
    assert problems == []
    assert sorted(c.id for c in clips) == ["yt---aE2O5G5WE-0-10000", "yt-abcDEF12345-30000-40000",
                                           "yt-dQw4w9WgXcQ-1000-3000"]
    assert collect([audioset / "segments.csv"], SourcesConfig(exclude=("Speech",))).clips == [
        c for c in clips if c.id == "yt-abcDEF12345-30000-40000"]

