"""The shards stage: deterministic versions, incremental builds, leak-free splits, repairs."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from manifests.formats.dataset import CARD
from manifests.formats.shard import IncompleteShardError, done_path, manifest_path, verify_shard
from stages.shards.config import ShardsConfig
from stages.shards.plan import plan_samples, windows
from stages.shards.split import split_of
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import (
    EXPRESSION,
    FPS,
    RATE,
    SMALL,
    add_curated,
    clips_of,
    new_home,
    random_clips,
)


def build(folder: Path, clips: int = 6, videos: int = 3, cfg: ShardsConfig = SMALL):
    ledger, root = new_home(folder)
    add_curated(ledger, root, clips_of(clips, videos))
    return ledger, root, build_dataset(ledger, root, cfg, "infant")


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_same_ledger_state_gives_byte_identical_shards(tmp_path: Path) -> None:
    *_, first = build(tmp_path / "a")
    *_, second = build(tmp_path / "b")
    assert first.version == second.version == "v0001"
    assert [s.sha256 for s in first.shards] == [s.sha256 for s in second.shards]
    tars = {k: v for k, v in file_bytes(tmp_path / "a" / "home" / "shards").items()
            if k.endswith((".tar", ".done", CARD))}
    assert tars == {k: v for k, v in file_bytes(tmp_path / "b" / "home" / "shards").items()
                    if k.endswith((".tar", ".done", CARD))}


def test_timings_and_retries_of_a_run_do_not_reach_the_shard_bytes(tmp_path: Path) -> None:
    """Regression: each sample embedded its stages' wall-clock `seconds` and retry history, so
    two runs of the same clips gave different tars with equal fingerprints."""
    shards = []
    for name, run in (("a", {"seconds": 1.25, "tries": []}),
                      ("b", {"seconds": 9.5, "tries": ["network_error: reset"], "attempts": 2})):
        ledger, root = new_home(tmp_path / name)
        add_curated(ledger, root, clips_of(4, 2), run_metrics=run)
        card = build_dataset(ledger, root, SMALL, "infant")
        shards.append([s.sha256 for s in card.shards])
        with tarfile.open(root.shards / "infant" / card.shards[0].path) as tar:
            meta = next(json.load(tar.extractfile(m)) for m in tar.getmembers()  # type: ignore[arg-type]
                        if m.name.endswith(".json"))
        assert meta["qc"]["audio"] == {"score": 1.0}
    assert shards[0] == shards[1]


def test_new_clips_make_a_new_version_that_keeps_the_old_shards(tmp_path: Path) -> None:
    ledger, root, v1 = build(tmp_path)
    before = file_bytes(root.shards / "infant" / "v0001")
    add_curated(ledger, root, clips_of(3, 3, offset=10))
    v2 = build_dataset(ledger, root, SMALL, "infant")

    assert (v2.version, v2.parent) == ("v0002", "v0001")
    assert set(v1.shards) <= set(v2.shards)  # every old shard referenced, by path and hash
    assert file_bytes(root.shards / "infant" / "v0001") == before  # nothing old rewritten
    new = [s for s in v2.shards if s not in v1.shards]
    assert new and all(s.origin == "v0002" for s in new)
    assert v2.samples == v1.samples + sum(s.samples for s in new)
    assert v2.stats["shards_kept"] == len(v1.shards)
    per_version = {version: len(ledger.shard_hashes("infant", version))
                   for version in ledger.dataset_versions("infant")}
    assert per_version == {"v0001": len(v1.shards), "v0002": len(v2.shards)}


def test_an_unchanged_ledger_makes_no_new_version(tmp_path: Path) -> None:
    ledger, root, v1 = build(tmp_path)
    again = build_dataset(ledger, root, SMALL, "infant")
    assert again == v1
    assert [p.name for p in (root.shards / "infant").iterdir()] == ["v0001"]


def test_a_clip_refitted_differently_gets_a_new_shard_and_the_rest_are_kept(
        tmp_path: Path) -> None:
    ledger, root, v1 = build(tmp_path)
    changed = clips_of(6, 3)[0]
    add_curated(ledger, root, [changed], frames=45)  # a new fitting attempt with other segments
    v2 = build_dataset(ledger, root, SMALL, "infant")
    folder = root.shards / "infant"
    old_with_clip = {s.path for s in v1.shards
                     if changed.id in set(pd.read_parquet(manifest_path(folder / s.path)).clip_id)}
    assert old_with_clip and not old_with_clip & {s.path for s in v2.shards}
    assert {s.path for s in v1.shards} - old_with_clip <= {s.path for s in v2.shards}


def test_a_sample_holds_every_field_for_exactly_its_window(tmp_path: Path) -> None:
    _, root, card = build(tmp_path, clips=1, videos=1)
    with tarfile.open(root.shards / "infant" / card.shards[0].path) as tar:
        members = tar.getmembers()
        files = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    key = sorted(files)[0].split(".")[0]
    meta = json.loads(files[f"{key}.json"])
    frames = meta["frames"]
    arrays = {name: np.load(io.BytesIO(files[f"{key}.{name}.npy"]))
              for name in ("expression", "landmarks", "rotation", "translation", "scale", "vad")}
    assert arrays["expression"].shape == (frames, EXPRESSION)
    assert arrays["expression"].dtype == np.float32
    assert arrays["landmarks"].dtype == np.float16 and arrays["landmarks"].shape[0] == frames
    assert arrays["rotation"].shape == (frames, 3, 3) and arrays["vad"].shape == (frames, 4)
    assert np.isfinite(arrays["expression"]).all()
    audio, rate = sf.read(io.BytesIO(files[f"{key}.audio.wav"]))
    assert rate == RATE and len(audio) == round(frames / FPS * RATE)
    assert meta["clip_id"] == clips_of(1)[0].id and meta["face_model_id"]
    assert set(meta["stages"]) == {"download", "audio", "faces", "fitting"}
    assert meta["stages"]["fitting"]["config_hash"] == "cfg" and meta["split"] in {"train", "val",
                                                                                    "test"}
    assert not [name for name in files if name.endswith((".mp4", ".jpg", ".png"))]  # privacy


def test_manifests_and_card_load_in_pandas_and_duckdb(tmp_path: Path) -> None:
    _, root, card = build(tmp_path)
    folder = root.shards / "infant" / "v0001"
    frame = pd.read_parquet(sorted(folder.glob("*.parquet")))
    assert len(frame) == card.samples == card.stats["samples"]
    query = f"SELECT split, count(*) FROM '{folder}/*.parquet' GROUP BY split"
    counts = duckdb.sql(query).fetchall()
    assert sum(n for _, n in counts) == card.samples
    loaded = json.loads((folder / CARD).read_text())
    assert loaded["version"] == "v0001" and loaded["config"]["window_s"] == SMALL.window_s
    assert loaded["stats"]["by_label"]["/t/dd00002"]["samples"] == card.samples


@pytest.mark.parametrize("damage", ["truncate", "no_done_marker", "delete"])
def test_a_damaged_shard_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    ledger, root, card = build(tmp_path)
    tar = root.shards / "infant" / card.shards[1].path
    if damage == "truncate":
        tar.write_bytes(tar.read_bytes()[:5000])
    elif damage == "no_done_marker":
        done_path(tar).unlink()
    else:
        tar.unlink()
    with pytest.raises(IncompleteShardError):
        verify_shard(tar, card.shards[1].sha256)
    assert build_dataset(ledger, root, SMALL, "infant") == card
    assert verify_shard(tar, card.shards[1].sha256).sha256 == card.shards[1].sha256


def test_clips_not_fitted_are_left_out_and_missing_inputs_are_reported(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    good, rejected, lost = clips_of(3)
    add_curated(ledger, root, [good, lost])
    add_curated(ledger, root, [rejected], fitting_ok=False)
    root.clip(lost.id).face_fit.unlink()
    card = build_dataset(ledger, root, SMALL, "infant")
    assert card.stats["clips"] == 1
    assert list(card.stats["skipped_clips"]) == [lost.id]


def test_windows_cover_a_segment_with_the_configured_overlap() -> None:
    cfg = ShardsConfig(window_s=1.0, overlap_s=0.5, min_window_s=0.5)
    assert list(windows(0, 75, 30.0, cfg)) == [(0, 30), (15, 45), (30, 60), (45, 75)]
    assert list(windows(10, 20, 30.0, cfg)) == []  # shorter than min_window_s
    assert list(windows(0, 50, 30.0, cfg)) == [(0, 30), (15, 45), (30, 50)]


def test_split_ratios_must_add_up() -> None:
    with pytest.raises(ValueError, match="must be 1"):
        ShardsConfig(train_ratio=0.9, val_ratio=0.2, test_ratio=0.0)


def test_a_videos_split_depends_only_on_its_group_and_the_ratios() -> None:
    rng = random.Random(7)
    ratios = {"train": 0.6, "val": 0.2, "test": 0.2}
    groups = [f"yt-{rng.getrandbits(48):012x}" for _ in range(3000)]
    splits = [split_of(g, ratios) for g in groups]
    assert splits == [split_of(g, dict(reversed(ratios.items()))) for g in groups]
    shares = {name: splits.count(name) / len(splits) for name in ratios}
    assert all(abs(shares[name] - ratios[name]) < 0.04 for name in ratios)


def test_no_source_video_is_in_two_splits_over_random_ledgers(tmp_path: Path) -> None:
    rng = random.Random(0)
    for trial in range(12):
        ledger, root = new_home(tmp_path / str(trial))
        clips = random_clips(rng, rng.randint(2, 10))
        fitted = [c for c in clips if rng.random() < 0.8]
        add_curated(ledger, root, fitted, frames=24)
        add_curated(ledger, root, [c for c in clips if c not in fitted], fitting_ok=False,
                    frames=24)
        val = rng.choice([0.0, 0.2, 0.5])
        cfg = ShardsConfig(window_s=0.5, overlap_s=0.0, min_window_s=0.2, train_ratio=1 - 2 * val,
                           val_ratio=val, test_ratio=val, samples_per_shard=rng.randint(1, 5))
        card = build_dataset(ledger, root, cfg, "infant")
        rows = pd.read_parquet(sorted((root.shards / "infant").rglob("*.parquet")))
        assert (rows.groupby("split_group")["split"].nunique() == 1).all()
        assert set(rows["clip_id"]) == {c.id for c in fitted}
        shard_split = {s.path: s.split for s in card.shards}
        assert all(shard_split[shard] == split
                   for shard, split in zip(rows["shard"], rows["split"], strict=True))
        for spec in plan_samples(ledger, root, cfg).samples:  # the same as split_of alone
            assert spec.split == split_of(spec.clip.split_group, cfg.ratios)
        ledger.close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_video_is_included_only_when_asked_and_reproducibly(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    clip = clips_of(1)[0]
    add_curated(ledger, root, [clip])
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=30:duration=2", "-pix_fmt", "yuv420p",
                    str(root.clip(clip.id).raw_video)], check=True)
    cfg = SMALL.model_copy(update={"include_video": True})
    card = build_dataset(ledger, root, cfg, "with-video")
    tar = root.shards / "with-video" / card.shards[0].path
    with tarfile.open(tar) as opened:
        videos = [m.name for m in opened.getmembers() if m.name.endswith(".mp4")]
    assert len(videos) == card.shards[0].samples
    tar.unlink()
    assert build_dataset(ledger, root, cfg, "with-video") == card  # rebuilt to the same bytes
