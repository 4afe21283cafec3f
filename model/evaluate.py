"""`cradle evaluate`: checkpoints and baselines scored by the same code on one split.

Every predictor (each checkpoint, sampled with its default DDIM steps, and each baseline in
`model.baselines`) produces expression latents for every window of the split; the dataset's face
model decodes them and the truth to vertices; `model.metrics` scores each window. LVE pools all
frames, the rest average over windows; 95 % intervals come from a bootstrap over windows, so
they say how much the numbers would move with other clips. Results go to `metrics.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests.facemesh import EYES, FOREHEAD
from manifests.files import atomic_write_json
from manifests.formats.dataset import load_card
from model import metrics
from model.audio.cache import FeatureCache
from model.audio.encoders import SAMPLE_RATE, load_encoder
from model.baselines import Predictor, Window, baselines
from model.checkpoint import TrainedModel, load_trained
from model.data import ReaderConfig, open_dataset
from model.face.base import FaceModel
from model.face.from_card import load_card_face_model
from model.sample import SampleConfig, generate

EVAL_FRAMES = 900  # windows are read whole up to 30 s; shards hold 4 s windows by default
PER_WINDOW = ("dtw", "ddtw", "pcc", "ccc", "vertex_pcc", "vertex_ccc", "mve", "fdd", "jitter")
METRICS = ("lve", "lve_sqrt", *PER_WINDOW)


@dataclass(frozen=True)
class EvalConfig:
    split: str = "test"
    steps: int | None = None  # None: each checkpoint's default DDIM steps
    guidance: float = 1.0
    seed: int = 0
    bootstrap: int = 1000  # resamples of the windows for the 95 % intervals
    diversity_samples: int = 5  # samples per window for the diversity score (K >= 5)
    diversity_windows: int = 3


def read_windows(shards: Path, dataset: str, split: str) -> list[Window]:
    """Every window of a split in shard order, trimmed to its real frames."""
    reader = ReaderConfig(frames=EVAL_FRAMES, train=False)
    out = []
    for w in open_dataset(shards, dataset, reader, split):
        n = int(w["mask"].sum())
        fps = SAMPLE_RATE * EVAL_FRAMES / len(w["audio"])  # the reader cut EVAL_FRAMES of audio
        out.append(Window(w["key"], w["clip_id"], w["label"], fps, w["expression"][:n].numpy(),
                          w["identity"].numpy(), w["age"].numpy(),
                          w["audio"][:round(n * SAMPLE_RATE / fps)].numpy()))
    return out


class ModelPredictor:
    """A checkpoint as a predictor: its encoder loaded once, features from the shared cache."""

    def __init__(self, model: TrainedModel, cache: Path, cfg: EvalConfig) -> None:
        if model.cfg.target != "expression":
            raise NotImplementedError(f"evaluating {model.cfg.target} targets is not built yet; "
                                      "expression-latent checkpoints only")
        self.model, self.cfg = model, cfg
        self.features = FeatureCache(cache / "features", load_encoder(model.cfg.encoder))

    def __call__(self, window: Window, seed: int | None = None) -> np.ndarray:
        """(F, E) expression latents for the window; `seed` defaults to the config's."""
        sample = SampleConfig(steps=self.cfg.steps, guidance=self.cfg.guidance,
                              seed=self.cfg.seed if seed is None else seed)
        return generate(self.model, self.features.features(window.audio, window.frames), sample)


class Scorer:
    """Decodes latents to vertices with the dataset's face model and scores one window."""

    def __init__(self, face_model: FaceModel) -> None:
        self.model = face_model
        # The upper face for FDD: eye contours and the forehead, where the model places them.
        known = set(face_model.correspondence.landmarks.tolist())
        self.upper = [face_model.correspondence.vertex_of(i)
                      for i in (*EYES[0], *EYES[1], FOREHEAD) if i in known]

    def vertices(self, window: Window, expression: np.ndarray) -> np.ndarray:
        frames = len(expression)
        with torch.no_grad():
            return self.model.decode(torch.from_numpy(window.identity).expand(frames, -1),
                                     torch.from_numpy(expression.astype(np.float32)),
                                     torch.from_numpy(window.age).expand(frames, -1)).numpy()

    def score(self, window: Window, expression: np.ndarray) -> dict[str, Any]:
        pred, true = self.vertices(window, expression), self.vertices(window, window.expression)
        lips = self.model.lip_vertices.numpy()
        pl, tl = pred[:, lips], true[:, lips]
        ap = [self.model.mouth_aperture(torch.from_numpy(v)).numpy() for v in (pred, true)]
        return {"lve_frames": ((pl - tl) ** 2).sum(-1).max(-1),
                "dtw": metrics.dtw(*ap), "ddtw": metrics.ddtw(*ap),
                "pcc": metrics.pcc(*ap), "ccc": metrics.ccc(*ap),
                "vertex_pcc": metrics.vertex_pcc(pl, tl), "vertex_ccc": metrics.vertex_ccc(pl, tl),
                "mve": metrics.mve(pred, true),
                "fdd": metrics.fdd(pred[:, self.upper], true[:, self.upper]),
                "jitter": metrics.jitter(pl)}


def summarise(scores: list[dict[str, Any]], cfg: EvalConfig) -> dict[str, dict[str, float]]:
    """Each metric's value and bootstrap 95 % interval over windows."""

    def values(picked: list[dict[str, Any]]) -> dict[str, float]:
        pooled = float(np.concatenate([s["lve_frames"] for s in picked]).mean())
        out = {"lve": pooled, "lve_sqrt": float(np.sqrt(pooled))}
        out.update({m: float(np.mean([s[m] for s in picked])) for m in PER_WINDOW})
        return out

    point = values(scores)
    rng = np.random.default_rng(cfg.seed)
    draws = [values([scores[i] for i in rng.integers(0, len(scores), len(scores))])
             for _ in range(cfg.bootstrap)]
    return {m: {"mean": point[m], "low": float(np.percentile([d[m] for d in draws], 2.5)),
                "high": float(np.percentile([d[m] for d in draws], 97.5))} for m in METRICS}


def evaluate(checkpoints: list[Path], home: Path, dataset: str | None = None,
             cfg: EvalConfig | None = None, out: Path | None = None) -> dict[str, Any]:
    """Scores every checkpoint and baseline on one split; writes and returns `metrics.json`."""
    cfg = cfg or EvalConfig()
    models = {path.name if path.is_dir() else path.parent.parent.name: load_trained(path)
              for path in checkpoints}
    first = next(iter(models.values()))
    card = load_card(home / "shards", dataset or first.cfg.dataset)
    tag = f"{card.name}@{card.version}"
    face_model = load_card_face_model(card, home)
    test, train = (read_windows(home / "shards", tag, s) for s in (cfg.split, "train"))
    if not test:
        raise ValueError(f"{tag} has no {cfg.split} windows to evaluate on")
    checkpoints_as = {name: ModelPredictor(m, home / "cache", cfg) for name, m in models.items()}
    predictors: dict[str, Predictor] = {**checkpoints_as, **baselines(train)}
    scorer = Scorer(face_model)
    names = card.labels or {}
    results: dict[str, Any] = {}
    for name, predict in predictors.items():
        scores = [scorer.score(w, predict(w)) for w in test]
        by_label: dict[str, list[dict[str, Any]]] = {}
        for window, score in zip(test, scores, strict=True):
            by_label.setdefault(names.get(window.label) or window.label or "none", []).append(score)
        results[name] = {"metrics": summarise(scores, cfg), "by_label": {
            label: {m: v["mean"] for m, v in summarise(group, EvalConfig(bootstrap=1)).items()}
            for label, group in sorted(by_label.items())}}
    for name, predictor in checkpoints_as.items():
        results[name]["diversity"] = _diversity(predictor, test[:cfg.diversity_windows], scorer)
    truth_jitter = float(np.mean([metrics.jitter(
        scorer.vertices(w, w.expression)[:, face_model.lip_vertices.numpy()]) for w in test]))
    report = {"dataset": tag, "split": cfg.split, "windows": len(test),
              "frames": int(sum(w.frames for w in test)), "units": card.face_model.units
              if card.face_model else None, "truth_jitter": truth_jitter,
              "config": asdict(cfg), "results": results}
    target = out or (checkpoints[0] if checkpoints[0].is_dir() else checkpoints[0].parent.parent)
    atomic_write_json(Path(target) / "eval" / f"{card.name}-{card.version}-{cfg.split}" /
                      "metrics.json", report)
    return report


def _diversity(predict: ModelPredictor, windows: list[Window], scorer: Scorer) -> float | None:
    """Mean pairwise vertex distance of K samples (seeds) per window; None for a regressor."""
    if predict.model.cfg.task != "diffusion" or not windows:
        return None
    cfg = predict.cfg
    per_window = []
    for window in windows:
        samples = [scorer.vertices(window, predict(window, cfg.seed + k))
                   for k in range(cfg.diversity_samples)]
        per_window.append(metrics.diversity(np.stack(samples)))
    return float(np.mean(per_window))
