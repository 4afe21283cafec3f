"""When the nightly run trains: a dataset with no model trains, a version that has grown enough
since the newest model's trains, a small growth does not, and a training cut short resumes."""

from __future__ import annotations

from pathlib import Path

from flows.training import training_due
from manifests.formats.dataset import DatasetCard, ShardRef
from model.checkpoint import save_checkpoint
from model.train_config import load_preset
from stages.config import TrainingConfig
from stages.paths import DataRoot


def _version(root: DataRoot, version: str, samples: int) -> None:
    shard = ShardRef(path=f"{version}/train-000000.tar", split="train", sha256="0" * 64,
                     size_bytes=1, samples=samples)
    DatasetCard(name="demo", version=version, parent=None, config={}, config_hash="h",
                shards=(shard,)).save(root.dataset_dir("demo"))


def _model(root: DataRoot, version: str, steps_done: int, steps: int = 100) -> Path:
    cfg = load_preset("demo").with_overrides([f"dataset=demo@{version}", f"steps={steps}"])
    run_dir = root.models / f"demo-demo-{version}"
    run_dir.mkdir(parents=True)
    cfg.save(run_dir)
    if steps_done:
        save_checkpoint(run_dir, steps_done, {"step": steps_done})
    return run_dir


def test_training_is_due_as_the_dataset_grows_past_the_threshold(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").create()
    rule = TrainingConfig(retrain_growth=0.2)
    _version(root, "v0001", 100)
    assert training_due(rule, root, "demo", "demo").train  # no model yet
    _model(root, "v0001", steps_done=100)
    assert not training_due(rule, root, "demo", "demo").train  # trained on the newest version
    _version(root, "v0002", 110)
    decision = training_due(rule, root, "demo", "demo")
    assert not decision.train and "+10%" in decision.why
    _version(root, "v0003", 125)
    assert training_due(rule, root, "demo", "demo").train  # +25 % over v0001
    assert not training_due(TrainingConfig(nightly=False), root, "demo", "demo").train


def test_a_training_cut_short_is_resumed(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").create()
    _version(root, "v0001", 100)
    _model(root, "v0001", steps_done=40)
    decision = training_due(TrainingConfig(), root, "demo", "demo")
    assert decision.train and "resuming" in decision.why
