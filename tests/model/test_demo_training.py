"""Training on the demo dataset, as a modeller would: the loss falls, the mouth follows the
voice, every preset trains and samples, the evaluator compares models, ablations and baselines,
and `cradle train` / `cradle sample` work end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from flows.cli import app
from model.ablate import Ablation
from model.audio.testing import tiny_wav2vec2
from model.baselines import Window
from model.checkpoint import TrainedModel, load_trained
from model.evaluate import EvalConfig, ModelPredictor, VertexScorer, evaluate, read_windows
from model.face.from_card import load_entry_face_model
from model.sample import SampleConfig, render
from model.train import TrainPaths, TrainResult, main
from model.train_config import load_preset
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)
from tests.model.test_report import check_report_page

pytestmark = pytest.mark.slow
TINY = ["steps=3", "batch_size=4", "reader.frames=30", "denoiser.width=32", "denoiser.layers=1",
        "denoiser.heads=2", "checkpoint_every=3", "val_every=3", "val_batches=1"]


def paths_in(home: Path, runs: Path) -> TrainPaths:
    return TrainPaths(home, home / "shards", runs, home / "cache")


def generated_and_true_aperture(model: TrainedModel, home: Path,
                                split: str) -> tuple[np.ndarray, np.ndarray]:
    """Mouth apertures over every frame of a split: `cradle sample`'s path (DDIM 25 steps,
    windows and crossfade) vs the fitted truth, decoded by the evaluator's code."""
    face_model = load_entry_face_model(model.face_model, home)
    scorer = VertexScorer(face_model)
    predict = ModelPredictor(model, home / "cache", EvalConfig(steps=25))

    def aperture(window: Window, expression: np.ndarray) -> np.ndarray:
        vertices = torch.from_numpy(scorer.vertices(window, expression))
        return face_model.mouth_aperture(vertices).numpy()

    windows = read_windows(home / "shards", model.cfg.dataset, split)
    return (np.concatenate([aperture(w, predict(w)) for w in windows]),
            np.concatenate([aperture(w, w.expression) for w in windows]))


@pytest.fixture(scope="module")
def demo_run(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The demo preset trained once (~1.5 min on 2 cores), as the README's worked example."""
    torch.set_num_threads(2)
    return main(load_preset("demo"), paths_in(demo_home, tmp_path_factory.mktemp("runs")),
                show_progress=False)


def test_the_demo_preset_learns_the_mouth_from_the_voice(demo_home: Path,
                                                        demo_run: TrainResult) -> None:
    result = demo_run
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert first / last >= 10, f"loss fell only {first / last:.1f}x ({first:.3g} -> {last:.3g})"
    generated, truth = generated_and_true_aperture(load_trained(result.run_dir), demo_home,
                                                   "train")
    corr = float(np.corrcoef(generated, truth)[0, 1])
    print(f"[model] demo preset: loss {first:.3g} -> {last:.3g} ({first / last:.1f}x), "
          f"train aperture correlation {corr:.3f} (DDIM 25)")
    assert corr >= 0.8


def test_the_trained_model_beats_the_static_and_energy_baselines(demo_home: Path,
                                                                demo_run: TrainResult,
                                                                tmp_path: Path) -> None:
    # The regressor baseline retrains the whole preset (~1.5 min): its row is checked on a tiny
    # run (`test_the_regressor_baseline_is_the_checkpoint_retrained_without_diffusion`).
    report = evaluate([demo_run.run_dir], demo_home,
                      cfg=EvalConfig(bootstrap=200, report=True, regressor=False), out=tmp_path)
    results = report["results"]
    assert set(results) == {demo_run.run_dir.name, "static", "energy", "nearest",
                            "shifted 0.5 s"}
    model = results[demo_run.run_dir.name]["metrics"]
    for baseline in ("static", "energy"):
        theirs = results[baseline]["metrics"]
        assert model["dtw"]["mean"] < theirs["dtw"]["mean"], baseline
        assert model["pcc"]["mean"] > theirs["pcc"]["mean"], baseline
    assert results["shifted 0.5 s"]["metrics"]["pcc"]["mean"] < model["pcc"]["mean"]
    assert all(m["low"] <= m["mean"] <= m["high"] for m in model.values())
    assert results[demo_run.run_dir.name]["diversity"] > 0
    written = tmp_path / "eval" / "demo-v0001-test" / "metrics.json"
    assert json.loads(written.read_text())["windows"] == report["windows"] > 0
    page = check_report_page(written.parent / "report" / "index.html", list(results))
    assert f"{demo_run.run_dir.name} beats static on DTW" in page
    print(f"[model] demo test split: DTW {model['dtw']['mean']:.3f} vs energy "
          f"{results['energy']['metrics']['dtw']['mean']:.3f}; L-PCC {model['pcc']['mean']:.3f} "
          f"vs energy {results['energy']['metrics']['pcc']['mean']:.3f}")


def test_the_regressor_baseline_is_the_checkpoint_retrained_without_diffusion(
        demo_home: Path, tmp_path: Path) -> None:
    tiny = main(load_preset("demo").with_overrides(TINY), paths_in(demo_home, tmp_path / "runs"),
                show_progress=False)
    cfg = EvalConfig(bootstrap=20, diversity_windows=1)
    report = evaluate([tiny.run_dir], demo_home, cfg=cfg, out=tmp_path)
    regressor = report["results"]["regressor (no diffusion)"]
    assert regressor["kind"] == "baseline" and regressor["diversity"] is None  # one answer
    assert np.isfinite(regressor["metrics"]["dtw"]["mean"])
    runs = {p.name for p in tiny.run_dir.parent.iterdir()}
    assert len(runs) == 2  # the checkpoint and its regression twin
    again = evaluate([tiny.run_dir], demo_home, cfg=cfg, out=tmp_path)
    assert {p.name for p in tiny.run_dir.parent.iterdir()} == runs  # trained once, reused
    assert again["results"]["regressor (no diffusion)"] == regressor


@pytest.mark.parametrize("preset", ["infant-diffusion", "facetalk", "animote"])
def test_every_preset_trains_briefly_and_samples(preset: str, demo_home: Path,
                                                 tmp_path: Path) -> None:
    # The real encoders cannot be downloaded here: tiny local wav2vec2s of the same shape stand
    # in, loaded through the production path (animote concatenates two, as its preset does).
    first, second = (tiny_wav2vec2(tmp_path / f"w2v{i}", seed=i) for i in (1, 2))
    encoder = f"wav2vec2:{first}+wav2vec2:{second}" if preset == "animote" else \
        f"wav2vec2:{first}"
    cfg = load_preset(preset).with_overrides([*TINY, f"encoder={encoder}"])
    result = main(cfg, paths_in(demo_home, tmp_path / "runs"), show_progress=False)
    assert result.step == 3 and np.isfinite(result.losses).all()
    audio = demo_home / "demo" / "clean_cry.infant.wav"
    written = render(result.run_dir, audio, SampleConfig(steps=2, guidance=2.0), demo_home,
                     tmp_path / "sample", obj=True)
    motion = np.load(written[0])
    frames = len(motion["landmarks"])
    assert frames > 60 and (tmp_path / "sample-obj" / "frame_00000.obj").is_file()
    if preset == "animote":
        assert motion["targets"].shape == (frames, 468 * 3) and "vertices" not in motion
    else:
        assert motion["vertices"].shape[0] == frames and np.isfinite(motion["vertices"]).all()
    assert written[-1].suffix == ".mp4" and written[-1].stat().st_size > 1000


def test_cradle_train_and_sample_on_the_demo_dataset(demo_home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRADLE_HOME", str(demo_home))
    runner = CliRunner()
    overrides = [arg for item in TINY for arg in ("--set", item)]
    trained = runner.invoke(app, ["train", "--preset", "demo", *overrides],
                            catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "run models/demo-demo-v0001-" in trained.output and "loss" in trained.output
    run = demo_home / trained.output.split("run ")[1].split(":")[0]
    audio = demo_home / "demo" / "clean_cry.infant.wav"
    sampled = runner.invoke(app, ["sample", "--checkpoint", str(run), "--audio", str(audio),
                                  "--steps", "5", "--seed", "3"], catch_exceptions=False)
    assert sampled.exit_code == 0, sampled.output
    assert (run / "samples" / "clean_cry-s3.npz").is_file()
    assert (run / "samples" / "clean_cry-s3.mp4").is_file()
    again = runner.invoke(app, ["sample", "--checkpoint", str(run), "--audio", str(audio),
                                "--steps", "5", "--seed", "3", "--out", str(run / "again")])
    assert again.exit_code == 0
    assert np.array_equal(np.load(run / "samples" / "clean_cry-s3.npz")["targets"],
                          np.load(run / "again.npz")["targets"])  # same seed, same motion


def test_ablations_join_the_table_and_retrained_variants_are_reused(
        demo_home: Path, demo_run: TrainResult, tmp_path: Path) -> None:
    ablations = [Ablation("band 0", train=("denoiser.band=0",)), Ablation("DDIM 10", steps=10),
                 Ablation("guidance 0", guidance=0.0)]
    cfg = EvalConfig(bootstrap=20, diversity_windows=1, regressor=False)
    before = {p.name for p in demo_run.run_dir.parent.iterdir()}
    report = evaluate([demo_run.run_dir], demo_home, cfg=cfg, out=tmp_path,
                      ablations=ablations, ablate_steps=20)
    name = demo_run.run_dir.name
    rows = {n: r for n, r in report["results"].items() if r["kind"] == "ablation"}
    assert set(rows) == {f"{name}: {a}" for a in
                         ("reference (20 steps)", "band 0", "DDIM 10", "guidance 0")}
    assert report["results"][name]["kind"] == "checkpoint"
    assert report["results"]["static"]["kind"] == "baseline"
    unconditional = rows[f"{name}: guidance 0"]["metrics"]["pcc"]["mean"]
    assert unconditional < report["results"][name]["metrics"]["pcc"]["mean"]  # audio matters
    runs = {p.name for p in demo_run.run_dir.parent.iterdir()}
    assert len(runs - before) == 2  # the 20-step reference and the band-0 variant
    again = evaluate([demo_run.run_dir], demo_home, cfg=cfg, out=tmp_path,
                     ablations=ablations[:1], ablate_steps=20)
    assert {p.name for p in demo_run.run_dir.parent.iterdir()} == runs  # reused
    assert again["results"][f"{name}: band 0"] == rows[f"{name}: band 0"]


def test_a_landmark_model_is_compared_in_the_same_table(demo_home: Path, demo_run: TrainResult,
                                                        tmp_path: Path) -> None:
    cfg = load_preset("animote").with_overrides([*TINY, "encoder=mel"])
    landmark_run = main(cfg, paths_in(demo_home, tmp_path / "runs"), show_progress=False)
    report = evaluate([demo_run.run_dir, landmark_run.run_dir], demo_home,
                      cfg=EvalConfig(bootstrap=20, regressor=False), out=tmp_path)
    results = report["results"]
    assert results[landmark_run.run_dir.name]["space"] == "landmarks"
    assert results[demo_run.run_dir.name]["space"] == "expression"
    for baseline in ("static", "energy", "nearest", "shifted 0.5 s"):
        assert results[baseline]["space"] == "expression"
        assert results[f"{baseline} (landmarks)"]["space"] == "landmarks"
    theirs = results[landmark_run.run_dir.name]["metrics"]
    assert all(np.isfinite(m["mean"]) for m in theirs.values())
    assert results[landmark_run.run_dir.name]["diversity"] is None  # a regressor: one answer
