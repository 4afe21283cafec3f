"""The evaluator's HTML report: one folder beside `metrics.json` that opens offline in a browser.

metrics.json holds every number; the report is for reading them: a plain-words verdict (does each
model beat the static face and the audio-energy jaw, given the 95 % intervals), metric bars with
those intervals, the per-label breakdown, mouth-aperture traces and side-by-side wireframe videos
of a few clips, each run's TensorBoard curves. Static HTML and CSS, no JavaScript; PNG plots
(matplotlib's Agg canvas, no pyplot state) and H.264 mp4s in the same folder: nothing to fetch.
Clip ids, labels and run names are data: escaped for HTML, kept out of matplotlib's math parser
and out of file names.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import soundfile
import torch
from matplotlib.figure import Figure

from model.audio.encoders import SAMPLE_RATE
from model.baselines import Predictor, Window
from model.checkpoint import LOGS, run_folder
from model.preview import PreviewError, render_frames

if TYPE_CHECKING:
    from model.evaluate import Scorer

REPORT = "report"  # the folder beside metrics.json
CSS = Path(__file__).with_name("report.css")
CLIPS = 3  # clips with traces and videos: enough to see a pattern, cheap to render
VIDEO_HEIGHT = 320  # px; each panel is square
PREVIEW_FPS = 15  # wireframes drawn per second: smooth enough, half the drawing at 30 fps
HEADLINE = ("dtw", "pcc", "lve", "ccc", "mve")  # the verdict's metrics, DTW and L-PCC first
AGAINST = ("static", "energy")  # the baselines a model must beat
LOWER_IS_BETTER = frozenset({"lve", "lve_sqrt", "dtw", "ddtw", "mve", "fdd"})
TITLES = {"lve": "LVE", "lve_sqrt": "√LVE", "dtw": "DTW", "ddtw": "DDTW", "pcc": "L-PCC",
          "ccc": "L-CCC", "vertex_pcc": "vertex PCC", "vertex_ccc": "vertex CCC", "mve": "MVE",
          "fdd": "FDD", "jitter": "jitter"}
COLOURS = {"checkpoint": "#2f6db5", "ablation": "#e08a2c", "baseline": "#9a9a9a"}


@dataclass(frozen=True)
class Verdict:
    """One model against one baseline on one metric, with both 95 % intervals."""

    model: str
    baseline: str
    metric: str
    mine: Mapping[str, float]  # mean, low, high
    theirs: Mapping[str, float]

    @property
    def outcome(self) -> str:
        """`beats` (better, intervals apart), `ahead` (better, they overlap) or `behind`."""
        sign = -1.0 if self.metric in LOWER_IS_BETTER else 1.0
        if sign * (self.mine["mean"] - self.theirs["mean"]) <= 0:
            return "behind"
        apart = (self.mine["high"] < self.theirs["low"] if sign < 0
                 else self.mine["low"] > self.theirs["high"])
        return "beats" if apart else "ahead"

    def sentence(self) -> str:
        """Plain words, with the numbers that back them (not yet escaped for HTML)."""
        verb = {"beats": "beats", "ahead": "is ahead of", "behind": "does not beat"}[self.outcome]
        head = f"{self.model} {verb} {self.baseline} on {TITLES.get(self.metric, self.metric)}"
        numbers = (f"{interval(self.mine)} vs {interval(self.theirs)}, "
                   f"{'lower' if self.metric in LOWER_IS_BETTER else 'higher'} is better")
        if self.outcome == "ahead":
            return (f"{head} on average, but the intervals overlap, so this split cannot tell "
                    f"them apart: {numbers}.")
        return f"{head}: {numbers}" + ("; the intervals are apart." if verb == "beats" else ".")


def interval(m: Mapping[str, float]) -> str:
    # Float noise (a still face's -1e-14 correlation) reads as 0.
    mean, low, high = (f"{m[k] if abs(m[k]) > 1e-9 else 0.0:.3g}" for k in ("mean", "low", "high"))
    return f"{mean} (95 % {low} to {high})"


def space(result: Mapping[str, Any]) -> str:
    return str(result.get("space", "expression"))


def against(results: Mapping[str, Any], model: str) -> list[str]:
    """The `AGAINST` baselines scored in the model's target space (`static (landmarks)`, ...)."""
    mine = space(results[model])
    return [name for base in AGAINST for name in (base, f"{base} ({mine})")
            if name in results and space(results[name]) == mine]


def verdicts(results: Mapping[str, Any], models: Sequence[str]) -> list[Verdict]:
    """Every model against each baseline in `AGAINST` on each headline metric it was scored on."""
    out: list[Verdict] = []
    for model in models:
        mine = results[model]["metrics"]
        for metric in (m for m in HEADLINE if m in mine):
            out.extend(Verdict(model, base, metric, mine[metric], results[base]["metrics"][metric])
                       for base in against(results, model) if metric in results[base]["metrics"])
    return out


def summary(model: str, found: Sequence[Verdict]) -> str:
    """The verdict's first line for a model: DTW and L-PCC against both baselines."""
    key = [v for v in found if v.model == model and v.metric in ("dtw", "pcc")]
    if not key:
        return f"{model} could not be compared with {' or '.join(AGAINST)} on DTW or L-PCC."
    misses = [v for v in key if v.outcome != "beats"]
    if not misses:
        return (f"{model} beats {' and '.join(sorted({v.baseline for v in key}))} on DTW and "
                f"L-PCC, with 95 % intervals that do not overlap.")
    how = {"ahead": "ahead, but the intervals overlap", "behind": "behind"}
    parts = [f"{v.baseline} on {TITLES[v.metric]} ({how[v.outcome]})" for v in misses]
    return f"{model} does not clearly beat " + "; ".join(parts) + "."


def write_report(folder: Path, report: Mapping[str, Any], windows: Sequence[Window],
                 predictors: Mapping[str, Predictor], scorers: Mapping[str, Scorer],
                 checkpoints: Sequence[Path]) -> Path:
    """Writes `<folder>/report/index.html` and its plots and videos; returns the page.

    Args:
        folder: the eval folder holding metrics.json.
        report: what `model.evaluate.evaluate` wrote to metrics.json.
        windows: the evaluated split's windows; a few clips of them get traces and videos.
        predictors: every predictor by the name it has in `report["results"]`.
        scorers: the evaluator's scorer for each target space in the results.
        checkpoints: the evaluated runs (folders or checkpoint files), for their logs.
    """
    runs = {run_folder(p).name: run_folder(p) for p in checkpoints}
    results = report["results"]
    kinds = {n: r.get("kind") or ("checkpoint" if n in runs else "baseline")
             for n, r in results.items()}
    models = [n for n, kind in kinds.items() if kind == "checkpoint"]
    picked = pick_clips(windows, CLIPS)
    rows = {n: (predictors[n], scorers[space(results[n])]) for n in dict.fromkeys(
        [*models, *(b for m in models for b in against(results, m))]) if n in predictors}
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".report-", dir=folder))
    try:
        _metric_bars(report, kinds).savefig(work / "metrics.png", dpi=90)
        predicted = {(i, n): predict(w) for i, w in enumerate(picked)
                     for n, (predict, _) in rows.items()}
        _traces(picked, predicted, rows, kinds).savefig(work / "traces.png", dpi=90)
        truth = scorers[space(results[models[0]])] if models else next(iter(scorers.values()))
        videos = [_preview(work / f"clip-{i}.mp4", w, [(n, predicted[i, n], rows[n][1])
                                                        for n in models if n in rows], truth)
                  for i, w in enumerate(picked)]
        curves = {n: _curves(runs[n] / LOGS, work / f"training-{i}.png")
                  for i, n in enumerate(models) if n in runs}
        page = render_page(report, kinds, picked, [v.name for v in videos],
                           {n: c for n, c in curves.items() if c})
        (work / "index.html").write_text(page, encoding="utf-8")
        shutil.copyfile(CSS, work / CSS.name)
        target = folder / REPORT
        if target.exists():
            shutil.rmtree(target)
        work.chmod(0o755)  # mkdtemp made it private; a report is for sharing
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / "index.html"


def pick_clips(windows: Sequence[Window], count: int) -> list[Window]:
    """The first window of a few different clips in shard order, each label once if it can be."""
    firsts: dict[str, Window] = {}
    for w in windows:
        firsts.setdefault(w.clip_id, w)
    chosen: list[str] = []
    for clip, w in firsts.items():
        if len(chosen) < count and w.label not in {firsts[c].label for c in chosen}:
            chosen.append(clip)
    chosen += [c for c in firsts if c not in chosen][:count - len(chosen)]
    return [w for clip, w in firsts.items() if clip in chosen]


def render_page(report: Mapping[str, Any], kinds: Mapping[str, str], picked: Sequence[Window],
                videos: Sequence[str], curves: Mapping[str, str]) -> str:
    """The page's HTML, a verdict for each `checkpoint` in `kinds` (the others: `ablation`,
    `baseline`); every string that came from data goes through `html.escape`."""
    e = html.escape
    results = report["results"]
    models = [name for name, kind in kinds.items() if kind == "checkpoint"]
    found = verdicts(results, models)
    title = f"{report['dataset']} {report['split']}"
    lines = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>Evaluation: {e(title)}</title><link rel='stylesheet' href='report.css'>"
             f"</head><body><h1>Evaluation: {e(title)}</h1>",
             f"<p class='meta'>{int(report['windows'])} windows, {int(report['frames'])} frames; "
             f"units: {e(str(report.get('units')))}; means with bootstrap 95 % intervals over "
             f"windows. Every number is in <code>metrics.json</code> beside this folder.</p>",
             "<h2>Verdict</h2>"]
    for model in models:
        beats = [v for v in found if v.model == model]
        lines.append(f"<p class='summary'>{e(summary(model, beats))}</p><ul class='verdict'>")
        lines += [f"<li class='{v.outcome}'>{e(v.sentence())}</li>" for v in beats]
        lines.append("</ul>")
    lines += ["<h2>Headline metrics</h2>", _headline_table(results, kinds),
              "<h2>Metrics with 95 % intervals</h2>",
              "<img src='metrics.png' alt='metric bars with 95 % intervals'>",
              "<h2>Per label</h2><p class='meta'>Means over each label's windows.</p>",
              _label_table(results, kinds), "<h2>Mouth aperture, predicted vs true</h2>",
              "<img src='traces.png' alt='mouth-aperture traces'>",
              "<h2>Previews</h2><div class='videos'>"]
    panels = " | ".join([*models, "truth"])
    for window, video in zip(picked, videos, strict=True):
        lines.append(f"<figure><video controls preload='metadata' src='{e(video)}' "
                     f"poster='{e(video.removesuffix('.mp4'))}.jpg'></video>"
                     f"<figcaption>{e(window.clip_id)} · {e(window.label or 'no label')}: "
                     f"{e(panels)}</figcaption></figure>")
    lines.append("</div><h2>Training curves</h2>")
    lines += [f"<h3>{e(m)}</h3><img src='{e(curves[m])}' alt='training curves of {e(m)}'>"
              if m in curves else f"<p>{e(m)}: no TensorBoard logs in its run folder.</p>"
              for m in models]
    lines.append("</body></html>")
    return "\n".join(lines)


def _headline_table(results: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    metrics = [m for m in HEADLINE if all(m in r["metrics"] for r in results.values())]
    head = ["predictor", *(f"{TITLES[m]} {'↓' if m in LOWER_IS_BETTER else '↑'}" for m in metrics),
            "diversity"]
    return _table(head, [(kinds[name], [html.escape(name),
                                        *(interval(r["metrics"][m]) for m in metrics),
                                        "" if r.get("diversity") is None
                                        else f"{r['diversity']:.3g}"])
                         for name, r in results.items()])


def _label_table(results: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    by = {name: r.get("by_label", {}) for name, r in results.items()}
    labels = sorted({label for groups in by.values() for label in groups})
    metrics = [m for m in HEADLINE
               if any(m in g for groups in by.values() for g in groups.values())]
    rows = [(kinds[name], [html.escape(label), html.escape(name),
                           *(f"{groups[label][m]:.3g}" if m in groups[label] else ""
                             for m in metrics)])
            for label in labels for name, groups in by.items() if label in groups]
    return _table(["label", "predictor", *(TITLES[m] for m in metrics)], rows, "labels")


def _table(head: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]], css: str = "") -> str:
    """A table from cells that are HTML already; each row is (its CSS class, its cells)."""
    out = [f"<table class='{css}'><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>"]
    out += [f"<tr class='{kind}'>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"
            for kind, cells in rows]
    return "".join(out) + "</table>"


def _plain(text: str) -> str:
    """Text for matplotlib: a `$` in a name must not start its math parser."""
    return text.replace("$", r"\$")


def _metric_bars(report: Mapping[str, Any], kinds: Mapping[str, str]) -> Figure:
    """One panel per metric: every predictor's mean with its 95 % interval."""
    results = report["results"]
    names = list(results)
    metrics = [m for m in TITLES if all(m in r["metrics"] for r in results.values())]
    cols, rows = 4, max(1, -(-len(metrics) // 4))
    fig = Figure(figsize=(13, 0.45 * len(names) * rows + 1.2 * rows), layout="constrained")
    for k, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, k + 1)
        m = np.array([[results[n]["metrics"][metric][q] for q in ("low", "mean", "high")]
                      for n in names])  # (P, 3)
        ax.barh(range(len(names)), m[:, 1], xerr=np.clip(np.diff(m, axis=1).T, 0, None),
                color=[COLOURS.get(kinds[n], COLOURS["baseline"]) for n in names], capsize=3)
        ax.set_yticks(range(len(names)), [_plain(n) for n in names] if k % cols == 0 else [])
        ax.invert_yaxis()
        if metric == "jitter" and "truth_jitter" in report:
            ax.axvline(report["truth_jitter"], color="black", linestyle="--", linewidth=1)
        better = ("truth dashed" if metric == "jitter" else
                  f"{'lower' if metric in LOWER_IS_BETTER else 'higher'} is better")
        ax.set_title(f"{TITLES[metric]} ({better})", fontsize=10)
    return fig


def _traces(picked: Sequence[Window], predicted: Mapping[tuple[int, str], np.ndarray],
            rows: Mapping[str, tuple[Predictor, Scorer]], kinds: Mapping[str, str]) -> Figure:
    """The mouth aperture over time per clip: the truth, each model and its two baselines."""
    truths = {scorer.space: scorer for _, scorer in rows.values()}
    fig = Figure(figsize=(11, 2.4 * max(1, len(picked))), layout="constrained")
    for i, window in enumerate(picked):
        ax = fig.add_subplot(max(1, len(picked)), 1, i + 1)
        t = np.arange(window.frames) / window.fps
        for name, scorer in truths.items():
            ax.plot(t, scorer.aperture(scorer.points(window, scorer.truth(window))),
                    color="black", linewidth=2,
                    label="truth" if len(truths) == 1 else f"truth ({name})")
        for name, (_, scorer) in rows.items():
            model = kinds[name] == "checkpoint"
            ax.plot(t, scorer.aperture(scorer.points(window, predicted[i, name])),
                    label=_plain(name), linewidth=1.5 if model else 1,
                    linestyle="-" if model else "--")
        ax.set_title(_plain(f"{window.clip_id} · {window.label or 'no label'}"), fontsize=10)
        ax.set_ylabel("aperture")
        ax.legend(fontsize=8, loc="upper right")
        ax.set_xlabel("seconds" if i == len(picked) - 1 else "")
    return fig


def _curves(logs: Path, out: Path) -> str | None:
    """Plots a run's TensorBoard scalars (loss terms and val loss, learning rate, grad norm)
    to `out`; returns its name, or None when the run left no logs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not logs.is_dir():
        return None
    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    series = {t: ([e.step for e in acc.Scalars(t)], [e.value for e in acc.Scalars(t)])
              for t in sorted(acc.Tags().get("scalars", []))}
    panel = {"lr": "learning rate", "grad_norm": "gradient norm"}
    panels: dict[str, list[str]] = {}
    for tag in series:
        panels.setdefault(panel.get(tag.split("/")[-1], "loss"), []).append(tag)
    if not panels:
        return None
    fig = Figure(figsize=(13, 3.2), layout="constrained")
    for k, (title, group) in enumerate(sorted(panels.items(), key=lambda x: x[0] != "loss")):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for tag in group:
            ax.plot(*series[tag], label=_plain(tag),
                    linewidth=2 if tag in ("train/loss", "val/loss") else 1)
        if title == "loss" and min(min(series[t][1]) for t in group) > 0:
            ax.set_yscale("log")  # losses fall by decades
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        if len(group) > 1:
            ax.legend(fontsize=7)
    fig.savefig(out, dpi=90)
    return out.name


def _wireframe(scorer: Scorer, window: Window,
               prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, M, 3) points at MediaPipe landmarks and their (M,) ids, for the preview."""
    face = getattr(scorer, "model", None)
    if face is None:  # landmark targets are the points themselves
        points = scorer.points(window, prediction)
        return points, np.arange(points.shape[1])
    n = len(prediction)
    with torch.no_grad():
        points = face.landmarks(torch.from_numpy(window.identity).expand(n, -1),
                                torch.from_numpy(prediction.astype(np.float32)),
                                torch.from_numpy(window.age).expand(n, -1)).numpy()
    return points, face.correspondence.landmarks


def _preview(out: Path, window: Window, motions: Sequence[tuple[str, np.ndarray, Scorer]],
             truth: Scorer) -> Path:
    """Each model's wireframe beside the truth's, with the window's audio, as one mp4."""
    panels = [*motions, ("truth", truth.truth(window), truth)]
    step = max(1, round(window.fps / PREVIEW_FPS))
    wires = [(points[::step], ids) for points, ids in
             (_wireframe(scorer, window, x) for _, x, scorer in panels)]
    same = all(np.array_equal(ids, wires[0][1]) for _, ids in wires)  # then one shared framing
    frames = (np.split(render_frames(np.concatenate([p for p, _ in wires]), wires[0][1]),
                       len(wires)) if same else [render_frames(p, ids) for p, ids in wires])
    video = np.concatenate(frames, axis=2)  # (F, S, S * P, 3) side by side
    size, names = video.shape[1], np.zeros_like(video[0])  # names drawn once, on every frame
    for p, (name, _, _) in enumerate(panels):
        cv2.putText(names, name.encode("ascii", "replace").decode()[:40], (p * size + 10, 28),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)  # ASCII only
    np.maximum(video, names, out=video)
    scale = VIDEO_HEIGHT / size  # the poster: the middle frame, shown before playing
    cv2.imwrite(str(out.with_suffix(".jpg")), cv2.resize(video[len(video) // 2], None, fx=scale,
                fy=scale, interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 80])
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "audio.wav"
        soundfile.write(wav, window.audio, SAMPLE_RATE)
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{video.shape[2]}x{size}", "-r", f"{window.fps / step}", "-i", "-",
               "-i", str(wav), "-map", "0:v", "-map", "1:a", "-vf", f"scale=-2:{VIDEO_HEIGHT}",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", "-shortest", str(out)]
        done = subprocess.run(cmd, input=np.ascontiguousarray(video).tobytes(),
                              capture_output=True, check=False)
    if done.returncode:
        raise PreviewError(f"ffmpeg could not write {out.name}: "
                           f"{done.stderr.decode(errors='replace').strip()[-300:]}")
    return out


