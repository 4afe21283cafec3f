"""When the nightly run trains: a dataset with no model trains, a version that has grown enough
since the newest model's trains, a small growth does not, a training cut short resumes; and a
version with an empty split skips training or evaluation with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.report import RunReport, model_markdown, render_markdown
from flows.training import training_due
from manifests.formats.dataset import DatasetCard, ShardRef
from model.checkpoint import save_checkpoint
from model.train import main
from model.train_config import load_preset
from stages.config import TrainingConfig
from stages.paths import DataRoot
from tests.model.test_train import one_split, tiny


def _version(root: DataRoot, version: str, samples: int, split: str = "train") -> None:
    shard = ShardRef(path=f"{version}/{split}-000000.tar", split=split, sha256="0" * 64,
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


def test_a_version_without_train_samples_is_not_trained_and_the_report_says_why(
        tmp_path: Path) -> None:
    """Regression: such a version reached the reader, and webdataset's IndexError crashed the
    nightly run; now training is skipped and the run's report gives the reason."""
    root = DataRoot(tmp_path / "home").create()
    _version(root, "v0001", 3, split="test")
    decision = training_due(TrainingConfig(), root, "demo", "demo")
    assert not decision.train and decision.why.startswith("demo@v0001 has no train samples")
    markdown = model_markdown({"training decision": {"train": False, "why": decision.why}})
    assert "Training: demo@v0001 has no train samples" in markdown


def test_an_evaluation_skipped_for_want_of_test_samples_says_why() -> None:
    """Regression: a version with no test split crashed the nightly run; now the report says
    evaluation was skipped and why, beside the model that was trained, and nowhere else."""
    why = ("demo@v0001 test has no samples: splits go by source video, so curate clips from "
           "more videos and build a new version")
    stages = {"fitting": {"ok": 2},
              "training": {"run": "models/demo-demo-v0001-1234abcd", "step": 200, "loss": 0.5,
                           "val loss": None},
              "evaluation": {"skipped because": why}}
    markdown = render_markdown(RunReport("nightly", "run-1", "flow-run-1", 60.0, stages, 2,
                                         20.0, [], []))
    assert "Model **models/demo-demo-v0001-1234abcd**: step 200" in markdown
    assert f"Evaluation skipped: {why}." in markdown
    assert "| evaluation |" not in markdown  # not a stage row of counts


@pytest.mark.slow
def test_a_version_without_test_samples_skips_evaluation_and_the_flow_completes(
        isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        prefect_server: None) -> None:
    """Regression: `cradle run --demo --limit 3` made a version with no test split; evaluating
    the model it trained crashed the nightly run (webdataset's IndexError), leaving no report."""
    from flows.training import EvaluateParams, evaluate

    paths = one_split(tmp_path, "train")
    monkeypatch.setenv("CRADLE_HOME", str(paths.home))
    run = main(tiny(steps=2), paths, show_progress=False).run_dir

    summary = evaluate(EvaluateParams(run=str(run.relative_to(paths.home))))

    assert summary == {"evaluation": {"skipped because": (
        "infant@v0001 test has no samples: splits go by source video, so curate clips from "
        "more videos and build a new version")}}
    assert not (run / "eval").exists()
