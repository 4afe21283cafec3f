"""The training reader: streams a dataset version's shards as fixed-length windows of tensors.

`open_dataset("infant")` reads last night's version, `open_dataset("infant@v0003")` an earlier one
exactly. Every shard is checked against its done marker and the sha256 in the dataset card before
anything is read, so a half-written or damaged shard stops training with a message instead of
silently feeding it fewer or corrupt samples.
"""

from __future__ import annotations

import io
import json
import logging
import random
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import webdataset as wds
from torch.utils.data import DataLoader

from manifests.errors import CradleError
from manifests.formats.dataset import load_card
from manifests.formats.sample import (
    AUDIO_FORMATS,
    METADATA,
    PER_CLIP,
    PER_FRAME,
    array_member,
    audio_member,
    check_format,
)
from manifests.formats.shard import verify_shard

log = logging.getLogger(__name__)


class EmptySplitError(CradleError):
    """A dataset version has no shards in the split asked for: splits go by source video, so a
    small version can leave one empty. Typed so that a nightly run can skip training or
    evaluation with this reason instead of failing (webdataset cannot open zero shards)."""


@dataclass(frozen=True)
class ReaderConfig:
    """How windows are cut and mixed; saved beside checkpoints so a run can be repeated."""

    # 120 frames = 4 s at 30 fps, the shards' default window: most samples need no padding.
    frames: int = 120
    # Samples from one clip sit together in a shard; a buffer of ~1000 mixes several shards'
    # worth of clips and costs ~1 GB of RAM per worker at ~1 MB a sample.
    shuffle_buffer: int = 1000
    # Training shuffles shards and samples and crops longer samples at a random offset;
    # evaluation reads in shard order and takes each sample's start, repeatably.
    train: bool = True
    # Seeds shard order, the shuffle buffer and crop offsets: the same seed, the same stream.
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shard_paths(shards_dir: Path, dataset: str, split: str | None = "train") -> list[Path]:
    """The verified shards of `dataset` (`NAME` or `NAME@VERSION`) for one split (None: all).

    Raises:
        DatasetNotFound: no such dataset or version.
        SampleFormatError: the version was written in a sample format this code cannot read.
        IncompleteShardError: a shard is missing, truncated, changed or lacks its done marker;
            `build_dataset` rebuilds it.
        EmptySplitError: the version has no shards in `split`.
    """
    card = load_card(shards_dir, dataset)
    check_format(card.sample_format, f"{card.name}@{card.version}")
    dataset_dir = shards_dir / card.name
    refs = [ref for ref in card.shards if split in (None, ref.split)]
    for ref in refs:
        verify_shard(dataset_dir / ref.path, ref.sha256)
    what = f"{card.name}@{card.version} {split or 'all'}"
    # Every epoch and every validation reopens the reader: a person needs the line once.
    key = f"{dataset_dir.resolve()} {what}"
    level = logging.DEBUG if key in _announced else logging.INFO
    _announced.add(key)
    log.log(level, "reader: %s: %d shards, %d samples", what, len(refs),
            sum(ref.samples for ref in refs))
    if not refs:
        raise EmptySplitError(f"{what} has no samples: splits go by source video, so curate "
                              "clips from more videos and build a new version")
    return [dataset_dir / ref.path for ref in refs]


_announced: set[str] = set()  # the datasets, versions and splits this process has logged


def open_dataset(shards_dir: Path, dataset: str, cfg: ReaderConfig | None = None,
                 split: str | None = "train", epoch: int = 0) -> wds.WebDataset:
    """An IterableDataset of windows (dicts of tensors) for a DataLoader with any worker count.

    Shards are divided among DataLoader workers (and distributed nodes), so each sample is read
    once per epoch. Each epoch shuffles differently, but a sample's crop stays the same, so
    cached audio features of a window serve every epoch.

    Raises:
        EmptySplitError: the version has no shards in `split`; the others as `shard_paths`.
    """
    cfg = cfg or ReaderConfig()
    urls = [str(path) for path in shard_paths(shards_dir, dataset, split)]
    order = cfg.seed + epoch
    pipeline = wds.WebDataset(urls, shardshuffle=len(urls) if cfg.train else False,
                              nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker,
                              empty_check=False, seed=order)
    if cfg.train and cfg.shuffle_buffer > 1:
        pipeline = pipeline.shuffle(cfg.shuffle_buffer, seed=order)
    return pipeline.map(partial(to_window, cfg=cfg))


def make_loader(shards_dir: Path, dataset: str, batch_size: int, num_workers: int = 2,
                cfg: ReaderConfig | None = None, split: str | None = "train",
                epoch: int = 0) -> DataLoader:
    """A DataLoader over `open_dataset`, batching windows into (B, T, ...) tensors.

    Workers start from a fork server, not a fork of this process: a training process holds
    threads (torch, CUDA, loggers) that a plain fork copies mid-flight, which crashes workers.
    """
    return DataLoader(open_dataset(shards_dir, dataset, cfg, split, epoch), batch_size=batch_size,
                      num_workers=num_workers, persistent_workers=False,
                      multiprocessing_context="forkserver" if num_workers else None)


def to_window(sample: dict[str, Any], cfg: ReaderConfig) -> dict[str, Any]:
    """Decodes one sample and pads or crops it to `cfg.frames` frames.

    Returns:
        audio (S,) float32 at 16 kHz for exactly the window; expression (T, K); rotation
        (T, 3, 3); translation (T, 2); scale (T,); landmarks (T, 478, 3); vad (T, 4);
        identity (I,); age (A,); mask (T,) bool, true on real frames; key and clip_id strings;
        label, the clip's first AudioSet MID ("" when it has none), for per-label breakdowns.
    """
    meta = json.loads(sample[METADATA])
    arrays = {name: np.load(io.BytesIO(sample[array_member(name)])) for name in PER_FRAME}
    audio_field = next(audio_member(f) for f in AUDIO_FORMATS if audio_member(f) in sample)
    audio, rate = sf.read(io.BytesIO(sample[audio_field]), dtype="float32")
    frames, target = meta["frames"], cfg.frames
    offset = 0
    if frames > target and cfg.train:
        offset = random.Random(f"{cfg.seed}:{meta['key']}").randrange(frames - target + 1)
    per_frame = rate / meta["fps"]
    first, length = round(offset * per_frame), round(target * per_frame)
    out: dict[str, Any] = {name: torch.from_numpy(_fit(values, offset, target))
                           for name, values in arrays.items()}
    out["audio"] = torch.from_numpy(_fit(audio, first, length))  # (S,)
    out["mask"] = torch.arange(target) < (frames - offset)  # (T,)
    for name in PER_CLIP:
        out[name] = torch.from_numpy(np.load(io.BytesIO(sample[array_member(name)])))
    out["key"], out["clip_id"] = meta["key"], meta["clip_id"]
    out["label"] = meta["labels"][0] if meta["labels"] else ""
    return out


def _fit(values: np.ndarray, start: int, length: int) -> np.ndarray:
    """`length` rows from `start` as float32, zero-padded past the end."""
    part = values[start:start + length].astype(np.float32)
    if len(part) == length:
        return np.ascontiguousarray(part)
    padded = np.zeros((length, *values.shape[1:]), dtype=np.float32)
    padded[:len(part)] = part
    return padded
