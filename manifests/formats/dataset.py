"""Dataset cards: what one version of a named training dataset holds, and how versions differ.

`shards/<dataset>/<version>/dataset.json` is the card. It lists every shard of the version by its
path relative to the dataset folder, so a version can reference unchanged shards that an earlier
version wrote (`v0001/train-000000.tar`) instead of copying them. Versions are `v0001`, `v0002`…;
"the latest" is the highest number, so modellers can say `infant` and get last night's data, or
`infant@v0003` to reproduce an earlier run exactly.

The card also says what a user needs to make sense of the samples without reading Cradle's code:
which face-model file decodes the latents (`face_model`), what the AudioSet labels are called
(`labels`), and the dataset's licence and consent notes. Cards written before these fields
existed are read with them empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests.errors import CradleError
from manifests.files import atomic_write_json
from manifests.formats.sample import SAMPLE_FORMAT

CARD = "dataset.json"
CARD_FORMAT = 2  # 2: face_model, labels, licence and consent
LATENT_BLOCKS = ("identity", "expression", "age")  # the order of a face model's full latent
_VERSION = re.compile(r"^v(\d{4,})$")


class DatasetNotFound(CradleError):
    """No dataset or version of that name exists under the shards folder."""


@dataclass(frozen=True)
class ShardRef:
    """One shard of a version: where it lives (relative to the dataset folder) and its hash."""

    path: str
    split: str
    sha256: str
    size_bytes: int
    samples: int

    @property
    def origin(self) -> str:
        """The version that wrote the shard."""
        return self.path.split("/", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "split": self.split, "sha256": self.sha256,
                "size_bytes": self.size_bytes, "samples": self.samples}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardRef:
        return cls(path=data["path"], split=data["split"], sha256=data["sha256"],
                   size_bytes=int(data["size_bytes"]), samples=int(data["samples"]))


@dataclass(frozen=True)
class FaceModelRef:
    """The face model whose latents the samples hold, and where its file is.

    `id` is the model's content hash, as every sample's `face_model_id` records it. `path` and
    `correspondence` are relative to the Cradle data home when the files are inside it, else
    only the file's name: exports never carry an absolute local path. `latent` gives each
    block's [start, end) in the model's full latent (identity, expression, age); `units` the
    model's vertex units. All but `id` are None when no file with that hash was found.
    """

    id: str
    name: str | None = None  # "open", or the INFACE file's name
    path: str | None = None
    correspondence: str | None = None
    latent: dict[str, tuple[int, int]] | None = None
    units: str | None = None

    def to_dict(self) -> dict[str, Any]:
        latent = None if self.latent is None else {
            block: list(self.latent[block]) for block in LATENT_BLOCKS}
        return {"id": self.id, "name": self.name, "path": self.path,
                "correspondence": self.correspondence, "latent": latent, "units": self.units}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceModelRef:
        latent = data.get("latent")
        return cls(id=data["id"], name=data.get("name"), path=data.get("path"),
                   correspondence=data.get("correspondence"), units=data.get("units"),
                   latent=None if latent is None else {
                       block: (int(latent[block][0]), int(latent[block][1]))
                       for block in LATENT_BLOCKS})


@dataclass(frozen=True)
class DatasetCard:
    """A version's card. `stats` holds counts by split and label and hours; `config` the settings.

    The card has no timestamps, so rebuilding a version from the same ledger state and settings
    gives the same card byte for byte.
    """

    name: str
    version: str
    parent: str | None
    config: dict[str, Any]
    config_hash: str
    shards: tuple[ShardRef, ...]
    stats: dict[str, Any] = field(default_factory=dict)
    sample_format: int = SAMPLE_FORMAT  # how each sample's members are laid out (formats.sample)
    face_model: FaceModelRef | None = None  # None: an old card, or samples of several models
    labels: dict[str, str | None] = field(default_factory=dict)  # MID -> name (None: unknown)
    licence: str = ""
    consent: str = ""

    @property
    def samples(self) -> int:
        return sum(shard.samples for shard in self.shards)

    def shard_paths(self, dataset_dir: Path, split: str | None = None) -> list[Path]:
        return [dataset_dir / s.path for s in self.shards if split in (None, s.split)]

    def to_dict(self) -> dict[str, Any]:
        return {"format": CARD_FORMAT, "name": self.name, "version": self.version,
                "parent": self.parent, "config": self.config, "config_hash": self.config_hash,
                "shards": [shard.to_dict() for shard in self.shards], "stats": self.stats,
                "sample_format": self.sample_format,
                "face_model": self.face_model.to_dict() if self.face_model else None,
                "labels": self.labels, "licence": self.licence, "consent": self.consent}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetCard:
        return cls(name=data["name"], version=data["version"], parent=data.get("parent"),
                   config=dict(data["config"]), config_hash=data["config_hash"],
                   shards=tuple(ShardRef.from_dict(s) for s in data["shards"]),
                   stats=dict(data.get("stats") or {}),
                   # Cards written before the field existed hold the first format.
                   sample_format=int(data.get("sample_format", 1)),
                   face_model=FaceModelRef.from_dict(data["face_model"])
                   if data.get("face_model") else None,
                   labels=dict(data.get("labels") or {}),
                   licence=data.get("licence") or "", consent=data.get("consent") or "")

    def save(self, dataset_dir: Path) -> Path:
        return atomic_write_json(dataset_dir / self.version / CARD, self.to_dict())


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_number(name: str) -> int:
    match = _VERSION.match(name)
    if not match:
        raise DatasetNotFound(f"{name!r} is not a version name; versions look like v0001")
    return int(match.group(1))


def versions(dataset_dir: Path) -> list[str]:
    """The finished versions of a dataset (those with a card), oldest first."""
    if not dataset_dir.is_dir():
        return []
    found = [p.name for p in dataset_dir.iterdir()
             if _VERSION.match(p.name) and (p / CARD).is_file()]
    return sorted(found, key=version_number)


def dataset_names(shards_dir: Path) -> list[str]:
    if not shards_dir.is_dir():
        return []
    return sorted(p.name for p in shards_dir.iterdir() if p.is_dir() and versions(p))


def load_card(shards_dir: Path, spec: str) -> DatasetCard:
    """Reads the card named `NAME` (the latest version) or `NAME@VERSION`.

    Raises:
        DatasetNotFound: no such dataset or version; the message lists what exists.
    """
    name, _, version = spec.partition("@")
    known = versions(shards_dir / name)
    if not known:
        raise DatasetNotFound(f"no dataset {name!r} under {shards_dir}; "
                              f"known: {', '.join(dataset_names(shards_dir)) or 'none'}")
    version = version or known[-1]
    if version not in known:
        raise DatasetNotFound(f"dataset {name!r} has no version {version!r}; "
                              f"known: {', '.join(known)}")
    card = json.loads((shards_dir / name / version / CARD).read_text())
    return DatasetCard.from_dict(card)
