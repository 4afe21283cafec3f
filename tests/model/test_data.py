"""The shard reader: verified shards in, padded or cropped windows out, across workers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from manifests.formats.dataset import DatasetNotFound
from manifests.formats.format_doc import RECIPE_MARKER
from manifests.formats.sample import SAMPLE_FORMAT, SampleFormatError
from manifests.formats.shard import IncompleteShardError, done_path
from model.data import EmptySplitError, ReaderConfig, make_loader, open_dataset
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import FPS, RATE, SMALL, add_curated, clips_of, new_home


@pytest.fixture
def built(tmp_path: Path):
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(6, 3))
    card = build_dataset(ledger, root, SMALL, "infant")
    return ledger, root, card


def test_a_dataloader_with_two_workers_reads_every_sample_once(built) -> None:
    _, root, card = built
    cfg = ReaderConfig(frames=24, shuffle_buffer=8)
    loader = make_loader(root.shards, "infant", batch_size=4, num_workers=2, cfg=cfg)
    keys: list[str] = []
    for batch in loader:
        b = len(batch["key"])
        assert batch["expression"].shape[:2] == (b, 24)
        assert batch["landmarks"].shape == (b, 24, 478, 3)
        assert batch["landmarks"].dtype == torch.float32
        assert batch["audio"].shape == (b, round(24 / FPS * RATE))
        real = batch["mask"].sum(1, keepdim=True)  # windows are 30 or 20 frames: 24 or 20 real
        assert (batch["mask"] == (torch.arange(24) < real)).all() and (real >= 20).all()
        keys += batch["key"]
    assert len(keys) == len(set(keys)) == card.stats["by_split"]["train"]["samples"]


def test_short_samples_are_padded_and_masked(built) -> None:
    _, root, _ = built
    cfg = ReaderConfig(frames=45, train=False)
    window = next(iter(open_dataset(root.shards, "infant", cfg)))
    real = int(window["mask"].sum())
    assert window["expression"].shape[0] == 45 and 0 < real < 45
    assert (window["expression"][real:] == 0).all()
    assert window["audio"].shape == (round(45 / FPS * RATE),)


def test_an_incomplete_shard_is_refused_before_anything_is_read(built) -> None:
    _, root, card = built
    done_path(root.shards / "infant" / card.shards[0].path).unlink()
    with pytest.raises(IncompleteShardError, match="done marker"):
        open_dataset(root.shards, "infant")


def test_a_truncated_shard_is_refused(built) -> None:
    _, root, card = built
    tar = root.shards / "infant" / card.shards[-1].path
    tar.write_bytes(tar.read_bytes()[:-1024])
    with pytest.raises(IncompleteShardError, match="truncated"):
        open_dataset(root.shards, "infant")


def test_a_sample_format_the_reader_does_not_know_is_refused(built) -> None:
    _, root, card = built
    replace(card, sample_format=card.sample_format + 1).save(root.dataset_dir("infant"))
    with pytest.raises(SampleFormatError, match="sample format 2"):
        open_dataset(root.shards, "infant")
    assert card.sample_format == SAMPLE_FORMAT  # the writer records the format it wrote


def test_an_earlier_version_is_read_by_name(built) -> None:
    ledger, root, v1 = built
    add_curated(ledger, root, clips_of(2, 2, offset=20))
    assert build_dataset(ledger, root, SMALL, "infant").version == "v0002"
    cfg = ReaderConfig(frames=30, train=False)
    old = list(open_dataset(root.shards, "infant@v0001", cfg, split=None))
    assert len(old) == v1.samples
    assert len(list(open_dataset(root.shards, "infant", cfg, split=None))) > v1.samples
    with pytest.raises(DatasetNotFound, match="v0001, v0002"):
        open_dataset(root.shards, "infant@v0009")


def test_a_split_with_no_shards_is_refused_by_name_before_webdataset_sees_it(
        tmp_path: Path) -> None:
    """Regression: a version whose test split was empty crashed the nightly run with webdataset's
    IndexError('list index out of range') instead of an error a flow can act on."""
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(2, 2))
    all_train = SMALL.model_copy(update={"train_ratio": 1.0, "val_ratio": 0.0,
                                         "test_ratio": 0.0})
    build_dataset(ledger, root, all_train, "infant")
    with pytest.raises(EmptySplitError, match="infant@v0001 test has no samples"):
        open_dataset(root.shards, "infant", split="test")
    assert len(list(open_dataset(root.shards, "infant", ReaderConfig(train=False)))) > 0


PAGE = Path(__file__).resolve().parents[2] / "docs" / "data-format.md"


def page_recipe() -> str:
    """The plain-webdataset code block exactly as docs/data-format.md shows it."""
    after = PAGE.read_text(encoding="utf-8").split(RECIPE_MARKER, 1)[1]
    return after.split("```python\n", 1)[1].split("\n```", 1)[0] + "\n"


def test_the_pages_plain_webdataset_recipe_reads_one_shard_with_two_workers(
        tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(1, 1))
    all_train = SMALL.model_copy(update={"train_ratio": 1.0, "val_ratio": 0.0,
                                         "test_ratio": 0.0})
    card = build_dataset(ledger, root, all_train, "infant")
    assert len(card.shards) == 1  # fewer shards than the recipe's two workers
    script = tmp_path / "read_shards.py"
    script.write_text(page_recipe())
    assert "manifests" not in script.read_text() and "model." not in script.read_text()
    run = subprocess.run([sys.executable, str(script), str(root.dataset_dir("infant")),
                          card.version], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    batches = [json.loads(line) for line in run.stdout.splitlines()]
    keys = [key for batch in batches for key in batch["keys"]]
    frames = [n for batch in batches for n in batch["frames"]]
    assert len(keys) == len(set(keys)) == card.samples == 3
    assert sorted(frames) == [20, 30, 30]  # the segment's last window is shorter: padded


def test_each_epoch_shuffles_anew_but_crops_every_window_the_same(built) -> None:
    _, root, _ = built
    cfg = ReaderConfig(frames=24, shuffle_buffer=8)

    def epoch(n: int) -> dict[str, torch.Tensor]:
        return {w["key"]: w["expression"] for w in open_dataset(root.shards, "infant", cfg,
                                                               epoch=n)}

    first, second = epoch(0), epoch(1)
    assert list(first) != list(second) and set(first) == set(second)
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_reopening_a_dataset_each_epoch_logs_it_once(built,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Regression: `make run` printed "reader: demo@v0001 train: 1 shards, 22 samples" once per
    epoch, dozens of identical lines."""
    _, root, card = built
    with caplog.at_level(logging.DEBUG, logger="model.data"):
        for epoch in range(3):
            open_dataset(root.shards, "infant", epoch=epoch)
    lines = [r for r in caplog.records if r.getMessage().startswith("reader:")]
    assert [r.levelno for r in lines] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert f"infant@{card.version} train" in lines[0].getMessage()
