"""The data-format reference page, rendered from the one definition of the sample format.

`docs/data-format.md` is this module's output, committed, and a test fails when the two differ,
so the page can never drift from what the writer writes. Regenerate it with:

    python -m manifests.formats.format_doc > docs/data-format.md

The plain-webdataset recipe is kept here as text (manifests/ imports no torch) and embedded in
the page verbatim; a test runs the page's copy of it.
"""

from __future__ import annotations

import json

from manifests.formats.dataset import CARD, CARD_FORMAT, DatasetCard, FaceModelRef, ShardRef
from manifests.formats.sample import (
    AUDIO_FORMATS,
    MEMBERS,
    METADATA_KEYS,
    SAMPLE_FORMAT,
    SAMPLE_RATE,
    SYMBOLS,
    VAD_COLUMNS,
)

REGENERATE = "python -m manifests.formats.format_doc > docs/data-format.md"
RECIPE_MARKER = "<!-- plain-webdataset-recipe -->"  # the test runs the code block after it

RECIPE = '''\
"""Reads Cradle shards with plain webdataset and torch; nothing from Cradle is imported."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import webdataset as wds
from torch.utils.data import DataLoader

PER_FRAME = ("expression", "rotation", "translation", "scale", "landmarks", "vad")
PER_CLIP = ("identity", "age")


def shard_paths(dataset_dir, version, split="train"):
    """The shards of one split of a version, as its card lists them.

    A version keeps unchanged shards where an earlier version wrote them
    (v0001/train-000000.tar in v0002's card), so read the card; do not glob the folder.
    """
    card = json.loads((Path(dataset_dir) / version / "dataset.json").read_text())
    return [str(Path(dataset_dir) / s["path"]) for s in card["shards"] if s["split"] == split]


def decode(sample):
    """One sample's members as float32 tensors, its audio, and its JSON metadata."""
    out = {name: torch.from_numpy(np.load(io.BytesIO(sample[name + ".npy"])).astype(np.float32))
           for name in PER_FRAME + PER_CLIP}
    audio = sample["audio.wav"] if "audio.wav" in sample else sample["audio.flac"]
    out["audio"] = torch.from_numpy(sf.read(io.BytesIO(audio), dtype="float32")[0])
    out["meta"] = json.loads(sample["json"])
    return out


def pad(x, length):
    return torch.cat([x, x.new_zeros(length - len(x), *x.shape[1:])])


def pad_and_mask(samples):
    """Batches windows of different lengths: zero-padded to the longest, mask on real frames."""
    frames = max(len(s["expression"]) for s in samples)
    batch = {name: torch.stack([pad(s[name], frames) for s in samples]) for name in PER_FRAME}
    audio = max(len(s["audio"]) for s in samples)
    batch["audio"] = torch.stack([pad(s["audio"], audio) for s in samples])
    batch["mask"] = torch.stack([torch.arange(frames) < len(s["expression"]) for s in samples])
    for name in PER_CLIP:
        batch[name] = torch.stack([s[name] for s in samples])
    batch["meta"] = [s["meta"] for s in samples]
    return batch


def make_loader(urls, batch_size=8, num_workers=2):
    dataset = wds.WebDataset(
        urls,
        shardshuffle=False,  # or e.g. len(urls) to shuffle shard order for training
        nodesplitter=wds.split_by_node,  # each distributed rank reads its own shards
        workersplitter=wds.split_by_worker,  # each DataLoader worker reads its own shards
        empty_check=False,  # fewer shards than workers: the idle workers yield nothing
    ).map(decode)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                      collate_fn=pad_and_mask)


if __name__ == "__main__":
    # python read_shards.py cradle-data/shards/infant v0001
    for batch in make_loader(shard_paths(sys.argv[1], sys.argv[2])):
        print(json.dumps({"keys": [m["key"] for m in batch["meta"]],
                          "frames": batch["mask"].sum(1).tolist()}))
'''


def render() -> str:
    """The whole page, as Markdown."""
    return "\n".join([
        "# Cradle's data format",
        "",
        f"<!-- Generated from manifests/formats/sample.py and manifests/formats/dataset.py; do "
        f"not edit. Regenerate: {REGENERATE} -->",
        "",
        "What a dataset version holds, what every number in a sample means, and how to read "
        "the shards with Cradle's reader or with plain `webdataset`. Sample format "
        f"{SAMPLE_FORMAT}, card format {CARD_FORMAT}.",
        "",
        *_layout(),
        *_card(),
        *_sample(),
        *_cradle_reader(),
        *_plain_reader(),
    ])


def _layout() -> list[str]:
    return [
        "## Where the shards are",
        "",
        "```text",
        "<CRADLE_HOME>/shards/<dataset>/          e.g. cradle-data/shards/infant/",
        "  v0001/",
        f"    {CARD}                         the card: the version exists once this is written",
        "    train-000000.tar                     WebDataset tar of whole samples",
        "    train-000000.tar.done                done marker: {sha256, size_bytes, samples}",
        "    train-000000.parquet                 one row per sample (pandas, DuckDB)",
        "    val-000000.tar …  test-000000.tar …",
        "  v0002/",
        f"    {CARD}                         may list v0001/train-000000.tar: kept, not copied",
        "    train-000003.tar …                   only the shards that changed",
        "```",
        "",
        "- **Versions** are `v0001`, `v0002`, …; the latest is the highest number with a card. "
        "`infant` means the latest, `infant@v0003` one version exactly. A version without a "
        "card was never finished and does not exist.",
        "- **Splits** are `train`, `val`, `test`, by source video (the clip's `split_group`): "
        "no video is in two splits, and a video never changes split when others arrive.",
        "- **A shard is whole** only when its `.done` marker is present and the tar's size and "
        "sha256 match both the marker and the card's `shards[].sha256`; Cradle's reader refuses "
        "anything else. The tars are byte-reproducible (sorted members, fixed headers).",
        "- **List shards from the card**, not from the folder: a version references unchanged "
        "shards where an earlier version wrote them, by path relative to the dataset folder.",
        "",
    ]


def _card() -> list[str]:
    example = DatasetCard(
        name="infant", version="v0002", parent="v0001",
        config={"window_s": 4.0, "overlap_s": 1.0, "...": "every shards setting"},
        config_hash="0c35faae8adfb27e",
        shards=(ShardRef("v0001/train-000000.tar", "train", "5f0c…", 268435456, 256),),
        stats={"samples": 256, "clips": 31, "hours": 0.2844, "by_split": "…",
               "by_label": "…", "by_face_model": {"pca-1a2b3c4d5e6f7a8b": 256}},
        face_model=FaceModelRef(
            id="pca-1a2b3c4d5e6f7a8b", name="open", path="models/open-face-model.h5",
            latent={"identity": (0, 16), "expression": (16, 80), "age": (80, 80)},
            units="mm, approximately: the open model is scaled so that the outer eye corners "
                  "are 70 mm apart"),
        labels={"/t/dd00002": "Baby cry, infant cry", "/t/dd00001": "Baby laughter"},
        licence="No licence has been set for this dataset (shards.licence). …",
        consent="No consent record has been set for this dataset (shards.consent). …")
    return [
        f"## The card: `{CARD}`",
        "",
        "```json",
        json.dumps(example.to_dict(), indent=2, sort_keys=True, ensure_ascii=False),
        "```",
        "",
        "- `face_model` is what decodes the latents. `id` is the model's content hash, equal "
        "to every sample's `face_model_id`; `path` and `correspondence` are relative to the "
        "Cradle data home when the file is inside it, else only the file's name (no absolute "
        "path is ever exported); `latent` gives each block's `[start, end)` in the model's full "
        "latent (identity, expression, age: the `expression` member is the middle block); "
        "`units` are the model's vertex units, which `scale` maps to pixels. "
        "`model.face.from_card.load_card_face_model(card, home)` loads it and checks the hash. "
        "`face_model` is null when the samples were fitted with several models "
        "(`stats.by_face_model` counts them); its fields other than `id` are null when no file "
        "with that hash was found.",
        "- `labels` maps each AudioSet MID in the version to its display name (null when no "
        "ontology was given).",
        "- `licence` and `consent` come from `shards.licence` and `shards.consent`; they are "
        "in no settings hash, so rewording them makes a new version that keeps every shard.",
        "- The card has no timestamps: the same ledger state and settings give the same card, "
        "byte for byte. Cards of format 1 lack `face_model`, `labels`, `licence`, `consent`.",
        "",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _sample() -> list[str]:
    rows = [f"| `{_cell(m.field)}` | {m.scope} | {_cell(m.dtype)} | {m.shape} | "
            f"{_cell(m.units)} | {_cell(m.frame)} | {_cell(m.meaning)} |" for m in MEMBERS]
    keys = [f"| `{k.name}` | {k.type} | {_cell(k.meaning)} |" for k in METADATA_KEYS]
    symbols = [f"- `{name}`: {meaning}" for name, meaning in SYMBOLS.items()]
    return [
        "## A sample",
        "",
        "A sample `<key>` is one window of a fitted segment: the tar members `<key>.<field>` "
        "below, so WebDataset hands you a dict keyed by field. Arrays are `.npy` (numpy's "
        "format, no pickles). Scope *frame*: one row per video frame of the window; *clip*: "
        f"the same in every window of the clip; *sample*: one per sample. Audio is "
        f"{' or '.join(AUDIO_FORMATS)} at {SAMPLE_RATE} Hz; `vad` columns are "
        f"{', '.join(VAD_COLUMNS)}.",
        "",
        "| field | scope | dtype | shape | units | frame | meaning |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *symbols,
        "",
        "The camera is scaled orthographic: a model vertex `v` (in `face_model.units`, model "
        "frame x right, y up, z towards the viewer) lands at image pixel "
        "`translation + scale * (rotation @ v)[:2] * (1, -1)`, the flip turning the model's "
        "y-up into the image's y-down. Latents, rotation, translation and scale are finite "
        "on every frame of a sample (the fit bridges short gaps); landmarks are not.",
        "",
        "### The JSON metadata (`<key>.json`)",
        "",
        "| key | type | meaning |",
        "|---|---|---|",
        *keys,
        "",
    ]


def _cradle_reader() -> list[str]:
    return [
        "## Reading the shards with Cradle",
        "",
        "```python",
        "from pathlib import Path",
        "",
        "from manifests.formats.dataset import load_card",
        "from model.data import ReaderConfig, make_loader",
        "from model.face.from_card import load_card_face_model",
        "",
        'home = Path("cradle-data")',
        'loader = make_loader(home / "shards", "infant", batch_size=16, num_workers=4,',
        "                     cfg=ReaderConfig(frames=120))",
        "for batch in loader:",
        '    expression, real = batch["expression"], batch["mask"]  # (B, T, K), (B, T) bool',
        "",
        'face = load_card_face_model(load_card(home / "shards", "infant"), home)',
        "```",
        "",
        "- `make_loader(shards_dir, dataset, batch_size, num_workers=2, cfg, split=\"train\")` "
        "and `open_dataset(shards_dir, dataset, cfg, split)` (an IterableDataset) read "
        "`NAME` or `NAME@VERSION`. Every shard is checked against its done marker and the "
        "card's sha256 before anything is read; a sample format the reader does not know is "
        "refused, and so is a split with no shards (`EmptySplitError`: splits go by source "
        "video, so a small version can leave one empty).",
        "- Every window comes out `cfg.frames` long: shorter ones zero-padded, with `mask` "
        "(`(T,)` bool) true on real frames; longer ones cropped (at a seeded random offset "
        "when `cfg.train`, else from the start). Use the mask in every loss; `landmarks` "
        "may also hold NaN on real frames where no face was found.",
        "- Any worker count works: shards are divided among workers and distributed ranks, and "
        "a worker left without a shard yields nothing.",
        "",
    ]


def _plain_reader() -> list[str]:
    return [
        "## Reading the shards with plain `webdataset`",
        "",
        "No Cradle import is needed: the members are `.npy`, WAV/FLAC and JSON. Two pitfalls:",
        "",
        "- **Fewer shards than DataLoader workers** (a small dataset, or the `val` split with "
        "one shard and two workers): `wds.WebDataset`'s default `empty_check=True` raises "
        "`ValueError: No samples found in dataset` in the worker left without a shard. Pass "
        "`empty_check=False` with `workersplitter=wds.split_by_worker` (and "
        "`nodesplitter=wds.split_by_node` when distributed), so every sample is read once.",
        "- **Windows differ in length**: the last window of a segment is shorter than "
        "`window_s`, so torch's default collate fails to stack a batch. Pad and mask (below), "
        "crop to a fixed length, or pass `batch_size=None` to get one sample at a time.",
        "",
        "Landmarks hold NaN on frames without a face: mask them, or replace them, before any "
        "loss. Save this as `read_shards.py`:",
        "",
        RECIPE_MARKER,
        "```python",
        RECIPE.rstrip("\n"),
        "```",
        "",
    ]


if __name__ == "__main__":
    print(render(), end="")
