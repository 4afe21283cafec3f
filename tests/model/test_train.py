"""The trainer on a small synthetic dataset: exact resume, the run folder, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from manifests.formats.dataset import DatasetNotFound, load_card
from model.checkpoint import checkpoint_paths, load_trained
from model.data import EmptySplitError
from model.train import TrainPaths, main
from model.train_config import TrainConfig, load_preset
from stages.shards.config import ShardsConfig
from stages.shards.stage import build_dataset
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)
from tests.stages.shards.helpers import SMALL, add_curated, clips_of, new_home

TINY = ["encoder=mel", "batch_size=4", "reader.frames=24", "reader.shuffle_buffer=8",
        "denoiser.width=32", "denoiser.layers=1", "denoiser.heads=2", "dataset=infant",
        "log_every=5", "val_every=10", "checkpoint_every=7"]


@pytest.fixture
def paths(tmp_path: Path) -> TrainPaths:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(6, 3))
    build_dataset(ledger, root, SMALL, "infant")
    return TrainPaths(root.home, root.shards, root.models, root.cache)


def tiny(preset: str = "facetalk", steps: int = 30) -> TrainConfig:
    return load_preset(preset).with_overrides([*TINY, f"steps={steps}"])


def one_split(tmp_path: Path, split: str) -> TrainPaths:
    """A version whose every sample is in `split`: the others are empty, as a small one's can be."""
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(2, 2))
    ratios = {f"{name}_ratio": float(name == split) for name in ("train", "val", "test")}
    build_dataset(ledger, root, ShardsConfig(**{**SMALL.model_dump(), **ratios}), "infant")
    return TrainPaths(root.home, root.shards, root.models, root.cache)


def test_a_run_stopped_at_a_checkpoint_resumes_to_the_same_losses(paths: TrainPaths) -> None:
    cfg = tiny()
    straight = main(cfg, paths, show_progress=False)
    shutil.rmtree(straight.run_dir)
    stopped = main(cfg, paths, show_progress=False, stop_after=12)
    assert stopped.step == 12 and len(checkpoint_paths(stopped.run_dir)) == 2
    resumed = main(cfg, paths, show_progress=False)
    assert resumed.run_dir == straight.run_dir and resumed.step == 30
    assert np.allclose(resumed.losses, straight.losses, rtol=0, atol=1e-5)


def test_the_run_folder_holds_its_config_logs_and_a_loadable_model(paths: TrainPaths) -> None:
    result = main(tiny(steps=12), paths, show_progress=False)  # 12 steps: over two epochs
    saved = TrainConfig.load(result.run_dir)
    assert saved.dataset == "infant@v0001"  # pinned: a resume never switches data
    assert json.loads((result.run_dir / "config.json").read_text())["steps"] == 12
    assert any((result.run_dir / "logs").iterdir())  # TensorBoard event files
    trained = load_trained(result.run_dir)
    assert trained.step == 12 and trained.fps == pytest.approx(30.0)
    assert not trained.network.training
    # Every epoch reads the same crops, so each training window was encoded exactly once.
    windows = load_card(paths.shards, "infant").stats["by_split"]["train"]["samples"]
    assert len(list((paths.cache / "features").glob("*.npy"))) == windows


def test_a_regressor_trains_on_landmark_targets(paths: TrainPaths) -> None:
    result = main(tiny("animote", steps=10), paths,
                  show_progress=False)
    assert result.step == 10 and np.isfinite(result.losses).all()
    assert load_trained(result.run_dir).targets.dim() == 468 * 3


def test_an_unknown_dataset_is_refused_with_the_known_ones(paths: TrainPaths) -> None:
    with pytest.raises(DatasetNotFound, match="known: infant"):
        main(tiny().with_overrides(["dataset=nope"]), paths, show_progress=False)


def test_the_regressor_also_predicts_expression_latents(paths: TrainPaths) -> None:
    # FaceTalk's "without diffusion" ablation: the same data and losses, one forward.
    result = main(tiny(steps=6).with_overrides(["task=regression"]), paths, show_progress=False)
    trained = load_trained(result.run_dir)
    assert trained.cfg.task == "regression" and trained.targets.dim() == 6


def test_a_version_without_train_samples_is_refused_by_name(tmp_path: Path) -> None:
    """Regression: an empty split reached webdataset, which failed with an IndexError."""
    with pytest.raises(EmptySplitError, match="infant@v0001 train has no samples"):
        main(tiny(steps=2), one_split(tmp_path, "test"), show_progress=False)
