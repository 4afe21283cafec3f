"""The evaluator's HTML report: the verdict's words from known numbers, escaping, and the page
itself opened offline in Chromium (a synthetic face model and predictors, no training)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from manifests.files import atomic_write_json
from model.audio.encoders import SAMPLE_RATE
from model.baselines import Predictor, Truth, Window, baselines
from model.checkpoint import LOGS
from model.evaluate import EvalConfig, LandmarkScorer, Scorer, VertexScorer, summarise
from model.face.base import LatentDims
from model.face.hdf5 import load_face_model
from model.face.testing import write_synthetic_pca
from model.report import (
    REPORT,
    Verdict,
    against,
    pick_clips,
    render_page,
    summary,
    verdicts,
    write_report,
)
from model.targets import LANDMARKS
from tests.browser import browser_page, pixel_variance
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)

DIMS = LatentDims(identity=4, expression=6, age=1)
HOSTILE = "<script>alert('x')</script>"
DOLLARS = "cry & $x^2$ \"loud\""
RUN = 'demo-<b>bold&"x"-1234'


def m(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean": mean, "low": low, "high": high}


KNOWN = {  # a model that clearly wins DTW, is level with energy on L-PCC, and loses LVE
    "run": {"metrics": {"dtw": m(0.10, 0.08, 0.12), "pcc": m(0.60, 0.50, 0.70),
                        "lve": m(3.0, 2.5, 3.5)}},
    "static": {"metrics": {"dtw": m(0.30, 0.25, 0.35), "pcc": m(0.0, 0.0, 0.0),
                           "lve": m(2.0, 1.5, 2.5)}},
    "energy": {"metrics": {"dtw": m(0.20, 0.15, 0.25), "pcc": m(0.55, 0.45, 0.65),
                           "lve": m(2.9, 2.4, 3.4)}},
}


def test_the_verdict_says_where_a_model_wins_and_where_it_does_not() -> None:
    found = {(v.baseline, v.metric): v for v in verdicts(KNOWN, ["run"])}
    assert {k: v.outcome for k, v in found.items()} == {
        ("static", "dtw"): "beats", ("energy", "dtw"): "beats",
        ("static", "pcc"): "beats", ("energy", "pcc"): "ahead",
        ("static", "lve"): "behind", ("energy", "lve"): "behind"}
    assert found["energy", "dtw"].sentence() == (
        "run beats energy on DTW: 0.1 (95 % 0.08 to 0.12) vs 0.2 (95 % 0.15 to 0.25), "
        "lower is better; the intervals are apart.")
    assert "cannot tell them apart" in found["energy", "pcc"].sentence()
    assert found["static", "lve"].sentence().startswith("run does not beat static on LVE: 3 ")
    assert summary("run", list(found.values())) == (
        "run does not clearly beat energy on L-PCC (ahead, but the intervals overlap).")
    winning = {**KNOWN, "energy": KNOWN["static"]}
    assert summary("run", verdicts(winning, ["run"])) == (
        "run beats energy and static on DTW and L-PCC, with 95 % intervals that do not overlap.")


def test_a_tie_is_not_a_win() -> None:
    level = Verdict("run", "static", "dtw", m(0.2, 0.1, 0.3), m(0.2, 0.1, 0.3))
    assert level.outcome == "behind"


def test_a_landmark_model_is_judged_against_the_landmark_baselines() -> None:
    results = {name: {**KNOWN[base], "space": space} for name, base, space in (
        ("run", "run", "expression"), ("animote", "run", "landmarks"),
        ("static", "static", "expression"), ("energy", "energy", "expression"),
        ("static (landmarks)", "static", "landmarks"),
        ("energy (landmarks)", "energy", "landmarks"))}
    assert against(results, "run") == ["static", "energy"]
    assert against(results, "animote") == ["static (landmarks)", "energy (landmarks)"]
    assert {v.baseline for v in verdicts(results, ["animote"])} == {
        "static (landmarks)", "energy (landmarks)"}


def window(key: str, clip: str, label: str, seed: int, frames: int = 36) -> Window:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    expression = (np.sin(2 * np.pi * (1 + seed % 3) * t)[:, None] *
                  rng.normal(0, 0.8, DIMS.expression)).astype(np.float32)  # (F, E)
    s = np.arange(round(frames / 30 * SAMPLE_RATE)) / SAMPLE_RATE  # (S,) seconds
    loudness = 1.2 + np.interp(s, t, expression[:, 0])  # the voice follows the mouth
    audio = (0.1 * loudness * np.sin(2 * np.pi * 300 * s)).astype(np.float32)
    return Window(key, clip, label, 30.0, expression, np.zeros(DIMS.identity, np.float32),
                  np.zeros(DIMS.age, np.float32), audio, np.zeros((frames, 468, 3), np.float32))


def synthetic_report(windows: list[Window], rows: list[tuple[str, str, str, Predictor]],
                     scorers: dict[str, Scorer]) -> dict[str, Any]:
    """What `evaluate` writes, computed by its own scoring code on synthetic windows."""
    results = {}
    for name, kind, space, predict in rows:
        scores = [scorers[space].score(w, predict(w)) for w in windows]
        labels = sorted({w.label for w in windows})
        results[name] = {"kind": kind, "space": space,
                         "metrics": summarise(scores, EvalConfig(bootstrap=20)), "by_label": {
            label: {k: v["mean"] for k, v in summarise(
                [s for s, w in zip(scores, windows, strict=True) if w.label == label],
                EvalConfig(bootstrap=1)).items()} for label in labels}}
    return {"dataset": "demo@v0001", "split": "test", "windows": len(windows),
            "frames": sum(w.frames for w in windows), "units": "mm", "truth_jitter": 0.1,
            "results": results}


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report from a synthetic face model, the real baselines in both target spaces, a noisy
    latent 'model' with TensorBoard logs and a noisy landmark 'model' without."""
    tmp = tmp_path_factory.mktemp("report")
    face = load_face_model(write_synthetic_pca(tmp / "face.h5", DIMS))
    scorers: dict[str, Scorer] = {"expression": VertexScorer(face), "landmarks": LandmarkScorer()}

    def with_landmarks(w: Window) -> Window:
        n = w.frames
        with torch.no_grad():
            points = face.landmarks(torch.zeros(n, DIMS.identity), torch.from_numpy(w.expression),
                                    torch.zeros(n, DIMS.age))[:, :LANDMARKS]  # (F, 468, 3)
        return replace(w, landmarks=points.numpy())

    train = [with_landmarks(window(f"t{i}", f"train{i}", "cry", seed=10 + i)) for i in range(4)]
    test = [with_landmarks(w) for w in (
        window("a", HOSTILE, DOLLARS, 1), window("b", "clip b", "laughter", 2),
        window("c", "clip c", "laughter", 3), window("d", "clip d", "babble", 4))]
    run, landmark_run = tmp / "runs" / RUN, tmp / "runs" / "animote-1"
    landmark_run.mkdir(parents=True)
    with SummaryWriter(str(run / LOGS)) as writer:
        for step in range(1, 21):
            writer.add_scalar("train/loss", 2.0 / step, step)
            writer.add_scalar("train/lr", 1e-3, step)
            writer.add_scalar("train/grad_norm", 1.0 / step, step)
        writer.add_scalar("val/loss", 0.3, 20)
    rng = np.random.default_rng(0)

    def noisy(truth: Truth) -> Predictor:
        return lambda w: truth(w) + rng.normal(0, 0.05, truth(w).shape).astype(np.float32)

    rows: list[tuple[str, str, str, Predictor]] = [
        (RUN, "checkpoint", "expression", noisy(scorers["expression"].truth)),
        (landmark_run.name, "checkpoint", "landmarks", noisy(scorers["landmarks"].truth))]
    for space, scorer in scorers.items():
        suffix = "" if space == "expression" else f" ({space})"
        rows += [(name + suffix, "baseline", space, predict)
                 for name, predict in baselines(train, scorer.truth).items()]
    report = synthetic_report(test, rows, scorers)
    folder = tmp / "eval" / "demo-v0001-test"
    (folder / REPORT).mkdir(parents=True)
    (folder / REPORT / "stale.png").write_bytes(b"")  # an older report's: replaced whole
    atomic_write_json(folder / "metrics.json", report)
    write_report(folder, report, test, {name: p for name, _, _, p in rows}, scorers,
                 [run, landmark_run])
    return folder


def test_the_report_escapes_every_string_from_data(report_folder: Path) -> None:
    page = (report_folder / REPORT / "index.html").read_text()
    assert HOSTILE not in page and "<b>bold" not in page
    assert "&lt;script&gt;" in page and "demo-&lt;b&gt;bold&amp;&quot;x&quot;-1234" in page
    assert "<script" not in page  # the page itself needs no JavaScript
    assert sorted(p.name for p in (report_folder / REPORT).iterdir()) == [
        "clip-0.jpg", "clip-0.mp4", "clip-1.jpg", "clip-1.mp4", "clip-2.jpg", "clip-2.mp4",
        "index.html", "metrics.png", "report.css", "traces.png",
        "training-0.png"]
    assert not [p for p in report_folder.iterdir() if p.name.startswith(".report-")]


def test_clips_are_picked_once_each_with_different_labels_first() -> None:
    ws = [window("1", "a", "cry", 0), window("2", "a", "cry", 1), window("3", "b", "cry", 2),
          window("4", "c", "laugh", 3), window("5", "d", "babble", 4)]
    assert [w.key for w in pick_clips(ws, 3)] == ["1", "4", "5"]
    assert [w.key for w in pick_clips(ws, 4)] == ["1", "3", "4", "5"]
    assert pick_clips(ws[:2], 3)[0].key == "1" and len(pick_clips(ws[:2], 3)) == 1


def test_a_page_of_known_numbers_says_them_in_words() -> None:
    report = {"dataset": "d@v1", "split": "test", "windows": 1, "frames": 3, "units": None,
              "results": KNOWN}
    page = render_page(report, {"run": "checkpoint", "static": "baseline",
                                "energy": "baseline"}, [], [], {})
    assert "<li class='ahead'>run is ahead of energy on L-PCC on average" in page
    assert "<tr class='baseline'><td>static</td><td>0.3 (95 % 0.25 to 0.35)</td>" in page
    assert "run: no TensorBoard logs in its run folder." in page


def check_report_page(index: Path, names: list[str], screenshot: Path | None = None) -> str:
    """Opens a report from file:// in Chromium and checks what a reader would see.

    Returns:
        The page's visible text.
    """
    requests: list[str] = []
    with browser_page() as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(index.resolve().as_uri(), wait_until="load")
        page.wait_for_function("[...document.images].every(i => i.complete) && "
                               "[...document.querySelectorAll('video')].every(v => v.readyState)")
        png = page.screenshot(full_page=True)
        if screenshot is not None:
            screenshot.write_bytes(png)
        text = page.inner_text("body")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth])")
        videos = page.eval_on_selector_all(  # src, poster, decoded width
            "video", "els => els.map(e => [e.getAttribute('src'), e.getAttribute('poster'), "
                     "e.videoWidth])")
        scripts = page.locator("script").count()
    assert pixel_variance(png) > 100, "the screenshot is blank"
    assert all(url.startswith("file://") for url in requests), requests  # nothing from a network
    assert scripts == 0
    assert {src for src, _ in images} >= {"metrics.png", "traces.png"}
    assert all(width for _, width in images), images  # every plot decoded
    assert videos and all(width for _, _, width in videos), videos  # Chromium decodes them
    assert all((index.parent / src).stat().st_size > 1000 and (index.parent / poster).is_file()
               for src, poster, _ in videos)
    missing = [name for name in names if name not in text]
    assert not missing, f"not on the page: {missing}"
    return text


@pytest.mark.slow
def test_the_report_opens_offline_in_a_browser(report_folder: Path, tmp_path: Path) -> None:
    rows = list(json.loads((report_folder / "metrics.json").read_text())["results"])
    assert {"static", "energy", "nearest", "shifted 0.5 s", "static (landmarks)"} <= set(rows)
    text = check_report_page(report_folder / REPORT / "index.html",
                             [*rows, HOSTILE, DOLLARS, "Verdict", "Per label", "Previews",
                              "Training curves"], tmp_path / "report.png")
    assert f"{RUN} beats static on DTW" in text
    # The landmark model is judged in its own space, and its noise shows: it loses to energy.
    assert "animote-1 beats static (landmarks) on L-PCC" in text
    assert "animote-1 does not beat energy (landmarks) on L-PCC" in text
    assert "animote-1: no TensorBoard logs" in text
    assert (tmp_path / "report.png").stat().st_size > 10_000
