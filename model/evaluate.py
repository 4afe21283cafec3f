"""`cradle evaluate`: checkpoints and baselines scored by the same code on one split.

Every predictor (each checkpoint, sampled with its default DDIM steps, its ablations in
`model.ablate`, and each baseline in `model.baselines`) produces targets for every window of the
split. Expression latents are decoded to vertices with the dataset's face model; landmark
targets (Animote's) are scored on the head-frame MediaPipe landmarks the shards carry, in the
same model units. `model.metrics` scores each window. LVE pools all frames, the rest average
over windows; 95 % intervals come from a bootstrap over windows, so they say how much the
numbers would move with other clips. Results go to `metrics.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests.facemesh import APERTURE, EYES, FOREHEAD, LIPS
from manifests.files import atomic_write_json
from manifests.formats.dataset import load_card
from model import metrics
from model.ablate import REGRESSOR, Ablation, variants
from model.audio.cache import FeatureCache
from model.audio.encoders import SAMPLE_RATE, load_encoder
from model.baselines import Predictor, Window, baselines
from model.checkpoint import TrainedModel, load_trained, run_folder
from model.data import ReaderConfig, open_dataset
from model.face.base import FaceModel
from model.face.from_card import load_card_face_model
from model.sample import SampleConfig, generate
from model.targets import LANDMARKS, head_frame_landmarks

EVAL_FRAMES = 900  # windows are read whole up to 30 s; shards hold 4 s windows by default
PER_WINDOW = ("dtw", "ddtw", "pcc", "ccc", "vertex_pcc", "vertex_ccc", "mve", "fdd", "jitter")
METRICS = ("lve", "lve_sqrt", *PER_WINDOW)
REGRESSOR_ROW = "regressor (no diffusion)"


@dataclass(frozen=True)
class EvalConfig:
    split: str = "test"
    steps: int | None = None  # None: each checkpoint's default DDIM steps
    guidance: float = 1.0
    seed: int = 0
    precision: str = "float32"  # the same numbers on every machine; see SampleConfig
    bootstrap: int = 1000  # resamples of the windows for the 95 % intervals
    diversity_samples: int = 5  # samples per window for the diversity score (K >= 5)
    diversity_windows: int = 3
    report: bool = False  # also the HTML report (`model.report`): seconds more; on in the CLI
    # The deterministic-regressor baseline (FaceTalk's "without diffusion"): the first diffusion
    # checkpoint's own config retrained with task=regression, once, and reused after that.
    regressor: bool = True


def read_windows(shards: Path, dataset: str, split: str) -> list[Window]:
    """Every window of a split in shard order, trimmed to its real frames."""
    reader = ReaderConfig(frames=EVAL_FRAMES, train=False)
    out = []
    for w in open_dataset(shards, dataset, reader, split):
        n = int(w["mask"].sum())
        fps = SAMPLE_RATE * EVAL_FRAMES / len(w["audio"])  # the reader cut EVAL_FRAMES of audio
        batch = {k: w[k][None].float() for k in ("landmarks", "scale", "translation", "rotation")}
        landmarks = head_frame_landmarks(batch)[0, :n].numpy()  # (F, 468, 3) model units
        out.append(Window(w["key"], w["clip_id"], w["label"], fps, w["expression"][:n].numpy(),
                          w["identity"].numpy(), w["age"].numpy(),
                          w["audio"][:round(n * SAMPLE_RATE / fps)].numpy(), landmarks))
    return out


class ModelPredictor:
    """A checkpoint as a predictor: its encoder loaded once, features from the shared cache."""

    def __init__(self, model: TrainedModel, cache: Path, cfg: EvalConfig) -> None:
        self.model, self.cfg = model, cfg
        self.features = FeatureCache(cache / "features", load_encoder(model.cfg.encoder))

    def __call__(self, window: Window, seed: int | None = None) -> np.ndarray:
        """(F, K) targets for the window (latents or flat landmarks); `seed`: the config's."""
        sample = SampleConfig(steps=self.cfg.steps, guidance=self.cfg.guidance,
                              seed=self.cfg.seed if seed is None else seed,
                              precision=self.cfg.precision)
        return generate(self.model, self.features.features(window.audio, window.frames), sample)


class Scorer:
    """Scores one window's prediction against its truth in one target space: the lip points'
    errors, the mouth aperture's trajectory, the upper face's dynamics. Subclasses say how
    predictions become points (F, N, 3)."""

    space = "expression"
    lips: np.ndarray  # (L,) lip point indices
    upper: list[int]  # upper-face point indices, for FDD

    def truth(self, window: Window) -> np.ndarray:
        """The window's true targets in this space, as a predictor returns them."""
        return window.expression

    def points(self, window: Window, prediction: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def aperture(self, points: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, window: Window, prediction: np.ndarray) -> dict[str, Any]:
        pred, true = self.points(window, prediction), self.points(window, self.truth(window))
        pl, tl = pred[:, self.lips], true[:, self.lips]
        ap = [self.aperture(v) for v in (pred, true)]
        return {"lve_frames": ((pl - tl) ** 2).sum(-1).max(-1),
                "dtw": metrics.dtw(*ap), "ddtw": metrics.ddtw(*ap),
                "pcc": metrics.pcc(*ap), "ccc": metrics.ccc(*ap),
                "vertex_pcc": metrics.vertex_pcc(pl, tl), "vertex_ccc": metrics.vertex_ccc(pl, tl),
                "mve": metrics.mve(pred, true),
                "fdd": metrics.fdd(pred[:, self.upper], true[:, self.upper]),
                "jitter": metrics.jitter(pl)}


class VertexScorer(Scorer):
    """Expression latents, decoded to vertices with the dataset's face model."""

    def __init__(self, face_model: FaceModel) -> None:
        self.model = face_model
        self.lips = face_model.lip_vertices.numpy()
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

    points = vertices

    def aperture(self, points: np.ndarray) -> np.ndarray:
        return self.model.mouth_aperture(torch.from_numpy(points)).numpy()


class LandmarkScorer(Scorer):
    """MediaPipe landmarks in the head's frame (Animote's targets), in the face model's units:
    the same lip, aperture and upper-face points the fitter reads, no decoder needed."""

    space = "landmarks"

    def __init__(self) -> None:
        self.lips = np.asarray(LIPS)
        self.upper = [i for i in (*EYES[0], *EYES[1], FOREHEAD) if i < LANDMARKS]

    def truth(self, window: Window) -> np.ndarray:
        return window.landmarks.reshape(window.frames, -1)  # (F, 468 * 3)

    def points(self, window: Window, prediction: np.ndarray) -> np.ndarray:
        return prediction.reshape(len(prediction), LANDMARKS, 3)

    def aperture(self, points: np.ndarray) -> np.ndarray:
        upper, lower = APERTURE
        return np.linalg.norm(points[:, upper] - points[:, lower], axis=-1)  # (F,)


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
             cfg: EvalConfig | None = None, out: Path | None = None,
             ablations: list[Ablation] | None = None,
             ablate_steps: int | None = None) -> dict[str, Any]:
    """Scores every checkpoint and baseline on one split; writes and returns `metrics.json`.

    Each checkpoint is scored in its own target space (expression latents through the face
    model, or head-frame landmarks), and every baseline runs in each space present.
    `ablations` adds the first checkpoint's ablations (`model.ablate`) as more rows; the
    regressor baseline is trained beside the first checkpoint unless `cfg.regressor` is off.

    Raises:
        EmptySplitError: the version has no `cfg.split` windows to score, or no train windows
            for the baselines.
    """
    cfg = cfg or EvalConfig()
    models = {run_folder(path).name: (load_trained(path), cfg) for path in checkpoints}
    first_dir, (first, _) = run_folder(checkpoints[0]), next(iter(models.values()))
    card = load_card(home / "shards", dataset or first.cfg.dataset)
    tag = f"{card.name}@{card.version}"
    test, train = (read_windows(home / "shards", tag, s) for s in (cfg.split, "train"))
    ablated = {f"{first_dir.name}: {v.name}": (v.model, v.cfg) for v in
               variants(first_dir, first, ablations, home, cfg, ablate_steps)} if ablations else {}
    trained = {}
    if cfg.regressor and first.cfg.task == "diffusion":
        [regressor] = variants(first_dir, first, [REGRESSOR], home, cfg)
        trained[REGRESSOR_ROW] = (regressor.model, regressor.cfg)
    spaces = {m.cfg.target for m, _ in (*models.values(), *ablated.values())}
    scorers: dict[str, Scorer] = {}
    if "expression" in spaces:
        scorers["expression"] = VertexScorer(load_card_face_model(card, home))
    if "landmarks" in spaces:
        scorers["landmarks"] = LandmarkScorer()
    rows: list[tuple[str, str, str, Predictor]] = []  # name, kind, space, predictor
    for kind, group in (("checkpoint", models), ("ablation", ablated), ("baseline", trained)):
        rows += [(name, kind, m.cfg.target, ModelPredictor(m, home / "cache", c))
                 for name, (m, c) in group.items()]
    for space, scorer in scorers.items():
        suffix = "" if space == "expression" else f" ({space})"
        rows += [(name + suffix, "baseline", space, predict)
                 for name, predict in baselines(train, scorer.truth).items()]
    names = card.labels or {}
    results: dict[str, Any] = {}
    for name, kind, space, predict in rows:
        scores = [scorers[space].score(w, predict(w)) for w in test]
        by_label: dict[str, list[dict[str, Any]]] = {}
        for window, score in zip(test, scores, strict=True):
            by_label.setdefault(names.get(window.label) or window.label or "none", []).append(score)
        results[name] = {"kind": kind, "space": space, "metrics": summarise(scores, cfg),
                         "by_label": {label: {m: v["mean"] for m, v in
                                              summarise(group, EvalConfig(bootstrap=1)).items()}
                                      for label, group in sorted(by_label.items())}}
        if isinstance(predict, ModelPredictor):
            results[name]["diversity"] = _diversity(predict, test[:cfg.diversity_windows],
                                                    scorers[space])
    scorer = next(iter(scorers.values()))  # the truth's own jitter, in the first space
    truth_jitter = float(np.mean([metrics.jitter(
        scorer.points(w, scorer.truth(w))[:, scorer.lips]) for w in test]))
    report = {"dataset": tag, "split": cfg.split, "windows": len(test),
              "frames": int(sum(w.frames for w in test)), "units": card.face_model.units
              if card.face_model else None, "truth_jitter": truth_jitter,
              "config": asdict(cfg), "results": results}
    target = out or first_dir
    folder = Path(target) / "eval" / f"{card.name}-{card.version}-{cfg.split}"
    atomic_write_json(folder / "metrics.json", report)
    if cfg.report:
        from model.report import write_report

        write_report(folder, report, test, {name: predict for name, _, _, predict in rows},
                     scorers, checkpoints)
    return report


def _diversity(predict: ModelPredictor, windows: list[Window],
               scorer: Scorer) -> float | None:
    """Mean pairwise vertex distance of K samples (seeds) per window; None for a regressor."""
    if predict.model.cfg.task != "diffusion" or not windows:
        return None
    cfg = predict.cfg
    per_window = []
    for window in windows:
        samples = [scorer.points(window, predict(window, cfg.seed + k))
                   for k in range(cfg.diversity_samples)]
        per_window.append(metrics.diversity(np.stack(samples)))
    return float(np.mean(per_window))
