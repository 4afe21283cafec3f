"""The training set: clean clips of every vocalisation and photo, each its own source video, in
every split, rendered deterministically and added or removed without touching the rest."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demo.audio import frame_envelope
from demo.clip import render_clip
from demo.corpus import clip_files, generate_corpus, segments_csv
from demo.face import PHOTOS, photo_landmarks
from demo.training import SPLIT_PLAN, TAKES, VOCALS, training_variants, video_id
from demo.variants import MID_BABBLING, VARIANTS
from manifests.files import sha256_file
from stages.config import DemoConfig
from stages.download.fetch import DEMO_URL
from stages.shards.config import ShardsConfig
from stages.shards.split import split_of
from stages.sources.stage import read_audioset_csv
from tests.conftest import DEMO_SEED as SEED
from tests.demo.conftest import TRAIN_SIZE
from tests.demo.helpers import f0_per_frame, face_mesh_track, truth


def _splits(variants: tuple, tmp_path: Path) -> list[str]:
    """Each clip's split as the pipeline decides it: segments.csv read as the nightly flow does."""
    path = tmp_path / "segments.csv"
    path.write_text(segments_csv(SEED, variants))
    clips = read_audioset_csv(path, url_template=DEMO_URL, id_prefix="demo")
    return [split_of(c.split_group, ShardsConfig().ratios) for c in clips]


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_a_larger_size_only_appends_clean_clips_of_every_kind() -> None:
    small, large = training_variants(4), training_variants(12)
    assert large[:4] == small
    assert len({v.name for v in large} | {v.name for v in VARIANTS}) == 12 + len(VARIANTS)
    assert {v.vocal for v in small[:3]} == set(VOCALS)
    assert {(v.vocal, v.photo) for v in large[:6]} == set(itertools.product(VOCALS, PHOTOS))
    assert all(v.expected() == {"verdict": "ok", "stage": None, "reason": None} for v in large)
    assert len({v.duration_s for v in large}) > 3 and len({v.motion for v in large}) == 12
    with pytest.raises(ValueError, match="0 or more"):
        training_variants(-1)


def test_training_clips_fall_into_the_planned_splits(tmp_path: Path) -> None:
    ratios = ShardsConfig().ratios
    planned = [SPLIT_PLAN[i % len(SPLIT_PLAN)] for i in range(len(TAKES))]
    if _splits(training_variants(len(TAKES)), tmp_path) != planned:
        takes = [next(t for t in itertools.count()
                      if split_of(f"demo-{video_id(i, t)}", ratios) == planned[i])
                 for i in range(len(TAKES))]
        pytest.fail(f"the split hash or ratios changed: set demo/training.py's TAKES = {takes}")


def test_the_default_size_puts_three_videos_in_every_split(tmp_path: Path) -> None:
    variants = VARIANTS + training_variants(DemoConfig().train_size)
    accepted = [split for v, split in zip(variants, _splits(variants, tmp_path), strict=True)
                if v.expected()["verdict"] == "ok"]
    assert {s: accepted.count(s) >= 3 for s in ("train", "val", "test")} == {
        "train": True, "val": True, "test": True}


def test_index_records_the_size_and_every_training_clip(training_corpus: Path) -> None:
    index = json.loads((training_corpus / "corpus.json").read_text())
    extras = training_variants(TRAIN_SIZE)
    assert index["train_size"] == TRAIN_SIZE
    assert [c["name"] for c in index["clips"]] == [v.name for v in VARIANTS + extras]
    for clip in index["clips"][len(VARIANTS):]:
        assert clip["expected"]["verdict"] == "ok"
        for name, digest in clip["sha256"].items():
            assert sha256_file(training_corpus / name) == digest
    rows = (training_corpus / "segments.csv").read_text().splitlines()[-TRAIN_SIZE:]
    assert [r.split(", ")[0] for r in rows] == [v.name for v in extras]
    assert MID_BABBLING in rows[VOCALS.index("babble")]


def test_rerun_with_the_same_size_writes_nothing(training_corpus: Path) -> None:
    before = _mtimes(training_corpus)
    generate_corpus(training_corpus, seed=SEED, train_size=TRAIN_SIZE)
    assert _mtimes(training_corpus) == before


def test_a_training_clip_is_deterministic_for_a_seed(training_corpus: Path,
                                                     tmp_path: Path) -> None:
    v = training_variants(TRAIN_SIZE)[-1]
    render_clip(v, SEED, tmp_path, {v.photo: photo_landmarks(v.photo)})
    for suffix in (".json", ".infant.wav", ".mp4"):
        name = f"{v.name}{suffix}"
        assert sha256_file(tmp_path / name) == sha256_file(training_corpus / name), suffix


def test_changing_the_size_adds_or_removes_only_training_clips(training_corpus: Path,
                                                               tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(training_corpus, corpus)
    extras = training_variants(TRAIN_SIZE)
    index_files = {"corpus.json", "segments.csv"}
    before = _mtimes(corpus)

    generate_corpus(corpus, seed=SEED, train_size=1)
    shrunk = _mtimes(corpus)
    assert set(shrunk) == set(before) - {f for v in extras[1:] for f in clip_files(v)}
    assert {n: t for n, t in shrunk.items() if n not in index_files} == {
        n: before[n] for n in shrunk if n not in index_files}
    assert json.loads((corpus / "corpus.json").read_text())["train_size"] == 1

    generate_corpus(corpus, seed=SEED, train_size=2)
    grown = _mtimes(corpus)
    assert set(grown) - set(shrunk) == set(clip_files(extras[1]))
    assert {n: grown[n] for n in shrunk if n not in index_files} == {
        n: t for n, t in shrunk.items() if n not in index_files}
    for name in clip_files(extras[1]):  # the same bytes as when rendered with the others
        assert sha256_file(corpus / name) == sha256_file(training_corpus / name)


def test_every_training_mouth_follows_its_voice(training_corpus: Path) -> None:
    for v in training_variants(TRAIN_SIZE):
        t = truth(training_corpus, v.name)
        infant, _ = sf.read(training_corpus / t["audio"]["infant_wav"])
        envelope = frame_envelope(infant, t["video"]["n_frames"])
        _, points = face_mesh_track(training_corpus / f"{v.name}.mp4")
        aperture = np.array([np.nan if p is None else
                             np.linalg.norm(p[13] - p[14]) / np.linalg.norm(p[10] - p[152])
                             for p in points])
        ok = ~np.isnan(aperture)
        assert ok.mean() >= 0.98, v.name
        r = np.corrcoef(aperture[ok], envelope[ok])[0, 1]
        assert r >= 0.8, f"{v.name}: aperture/envelope correlation {r:.2f}"
        yaw = np.asarray(t["frames"]["yaw_deg"])
        assert np.ptp(yaw) >= 2.0, v.name  # the head wanders, unlike the failure variants'


def test_babbling_is_short_syllables_in_the_infant_f0_range(training_corpus: Path) -> None:
    v = training_variants(TRAIN_SIZE)[VOCALS.index("babble")]
    t = truth(training_corpus, v.name)
    assert t["audio"]["vocalisation"] == "babble"
    infant, sr = sf.read(training_corpus / t["audio"]["infant_wav"])
    spans = t["audio"]["vocal_intervals"]
    assert len(spans) >= 6 and all(0.14 * sr <= b - a <= 0.24 * sr for a, b in spans)
    # The lips close between syllables: the voice stops, so the mouth does.
    gaps = [infant[b:c] for (_, b), (c, _) in itertools.pairwise(spans)]
    assert all(np.sqrt(np.mean(g**2)) < 0.3 * np.sqrt(np.mean(infant[a:b] ** 2))
               for g, (a, b) in zip(gaps, spans, strict=False))
    voiced = np.concatenate([f0_per_frame(infant[a:b]) for a, b in spans])
    voiced = voiced[voiced > 0]
    assert np.mean((voiced >= 290) & (voiced <= 620)) > 0.8
