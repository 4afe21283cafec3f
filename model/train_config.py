"""Training configuration: one JSON-able dataclass per run, and the presets shipped as JSON files.

`TrainConfig` is saved as `config.json` in the run folder and loads back equal, so a run can be
repeated or resumed from its folder alone. A preset (`model/presets/<name>.json`) holds only the
fields that differ from the defaults; `cradle train --preset NAME --set steps=200` layers
overrides on it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from manifests.errors import CradleError
from manifests.files import atomic_write_json
from model.data import ReaderConfig
from model.denoiser import DenoiserConfig
from model.diffusion import DiffusionConfig
from model.losses import LossConfig

CONFIG_FILE = "config.json"
PRESETS = Path(__file__).parent / "presets"
TASKS = ("diffusion", "regression")
TARGETS = ("expression", "landmarks")


class TrainConfigError(CradleError):
    """A preset or override names something that does not exist or does not fit."""


@dataclass(frozen=True)
class OptimiserConfig:
    """AdamW with linear warm-up then cosine decay to zero, and gradient-norm clipping."""

    lr: float = 1e-4  # FaceTalk's Adam rate
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides the data itself."""

    preset: str = "custom"
    dataset: str = "demo"  # NAME (latest version, pinned at start) or NAME@VERSION
    task: str = "diffusion"  # or "regression": a deterministic transformer (Animote)
    target: str = "expression"  # face-model expression latents, or "landmarks" (478 x 3)
    encoder: str = "mel"  # model.audio.encoders spec; the study's is "voc2vec"
    steps: int = 2000
    batch_size: int = 16
    seed: int = 0
    # FaceTalk's expression augmentation: a window's latents scaled by r ~ U(lo, hi); None: off.
    expression_scale: tuple[float, float] | None = (0.5, 3.0)
    condition_on_identity: bool = False  # feed the clip's identity + age latents to the network
    guidance: float = 1.0  # classifier-free guidance scale used for validation samples
    log_every: int = 10
    val_every: int = 200
    checkpoint_every: int = 200
    val_batches: int = 4
    num_workers: int = 0  # DataLoader workers; 0 reads in the training process
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise TrainConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.target not in TARGETS:
            raise TrainConfigError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.target == "landmarks" and self.losses.needs_decoder:
            raise TrainConfigError("landmark targets have no face-model decoder: set the lip, "
                                   "lip_velocity, dtw and closed loss weights to 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data, "")

    def save(self, folder: Path) -> Path:
        return atomic_write_json(Path(folder) / CONFIG_FILE, self.to_dict())

    @classmethod
    def load(cls, folder: Path) -> TrainConfig:
        return cls.from_dict(json.loads((Path(folder) / CONFIG_FILE).read_text()))

    def with_overrides(self, assignments: list[str]) -> TrainConfig:
        """Applies `dotted.key=json-value` strings, e.g. `denoiser.layers=2`, `steps=50`."""
        data = self.to_dict()
        for item in assignments:
            key, sep, raw = item.partition("=")
            if not sep:
                raise TrainConfigError(f"an override looks like key=value, got {item!r}")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw  # a bare string such as encoder=mel
            *parents, leaf = key.strip().split(".")
            node = data
            for part in parents:
                if not isinstance(node.get(part), dict):
                    raise TrainConfigError(f"no config section {key!r}")
                node = node[part]
            if leaf not in node:
                raise TrainConfigError(f"no config field {key!r}")
            node[leaf] = value
        return TrainConfig.from_dict(data)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.json"))


def load_preset(name: str) -> TrainConfig:
    """The preset's config: its JSON file's fields over the defaults."""
    path = PRESETS / f"{name}.json"
    if not path.is_file():
        raise TrainConfigError(f"no preset {name!r}; known: {', '.join(preset_names())}")
    data = json.loads(path.read_text())
    data.pop("description", None)
    return replace(TrainConfig.from_dict(data), preset=name)


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """A (nested) config dataclass from a dict, refusing unknown keys with their path."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TrainConfigError(f"unknown config field(s) {', '.join(where + k for k in unknown)}")
    values: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name) if name in _SECTIONS else None
        if name in _SECTIONS and isinstance(value, dict):
            values[name] = _build(type(default), value, f"{where}{name}.")
        elif isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = value
    return cls(**values)


_SECTIONS = ("reader", "denoiser", "diffusion", "losses", "optimiser")
