"""The AudioSet ontology and label selections: names or MIDs, with all their descendants.

Selections are versioned data files (`manifests/data/<name>.selection.yaml`) that list label
*names*; MIDs are resolved from the ontology at run time, never typed in from memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from manifests.errors import ConfigError
from manifests.records import Clip
from stages.sources.config import SourcesConfig

SELECTIONS = resources.files("manifests") / "data"  # shipped as package data
SELECTION_SUFFIX = ".selection.yaml"
ONTOLOGY_NAME = "ontology.json"  # as Google ships it, beside the segment lists


def ontology_path(cfg: SourcesConfig, source_list: Path) -> Path:
    """The ontology that names a segment list's labels: `sources.ontology`, else the
    `ontology.json` beside the list (whether or not it is there)."""
    return cfg.ontology or Path(source_list).parent / ONTOLOGY_NAME


@dataclass(frozen=True)
class Ontology:
    """AudioSet's label tree: MID → name, MID → child MIDs."""

    names: dict[str, str]
    children: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path) -> Ontology:
        try:
            nodes: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the AudioSet ontology {path}: {e}; put AudioSet's "
                              "ontology.json beside the segment list or set sources.ontology"
                              ) from e
        return cls(names={n["id"]: n["name"] for n in nodes},
                   children={n["id"]: tuple(n.get("child_ids") or ()) for n in nodes})

    def mid(self, label: str) -> str:
        """A label's MID, from its MID or its exact (case-insensitive) name.

        Raises:
            ConfigError: no such label; the message suggests near names.
        """
        if label in self.names:
            return label
        wanted = label.strip().casefold()
        for mid, name in self.names.items():
            if name.casefold() == wanted:
                return mid
        near = [name for name in self.names.values() if wanted.split(",")[0] in name.casefold()]
        raise ConfigError(f"no AudioSet label named {label!r}; similar: {near[:5]}")

    def descendants(self, labels: Iterable[str]) -> frozenset[str]:
        """The MIDs of `labels` and of everything below them in the tree."""
        found: set[str] = set()
        todo = [self.mid(label) for label in labels]
        while todo:
            mid = todo.pop()
            if mid not in found:
                found.add(mid)
                todo.extend(self.children.get(mid, ()))
        return frozenset(found)


@dataclass(frozen=True)
class Selection:
    """Which labels to keep and which to drop, as named in a selection file."""

    name: str
    version: int
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @classmethod
    def load(cls, name_or_path: str | Path) -> Selection:
        """A shipped selection by name (`infant_vocalisation`), or a YAML file by path.

        Raises:
            ConfigError: the file is missing or malformed.
        """
        path: Path | Traversable = Path(name_or_path)
        if not path.is_file():
            path = SELECTIONS / f"{name_or_path}{SELECTION_SUFFIX}"
        if not path.is_file():
            shipped = sorted(p.name.removesuffix(SELECTION_SUFFIX) for p in SELECTIONS.iterdir()
                             if p.name.endswith(SELECTION_SUFFIX))
            raise ConfigError(f"no selection {name_or_path!r}: name a file or one of {shipped}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls(name=str(data["name"]), version=int(data["version"]),
                       include=tuple(data["include"]), exclude=tuple(data.get("exclude") or ()))
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"selection {path} is malformed: {e!r}") from e

    def with_exclude(self, labels: Sequence[str]) -> Selection:
        return Selection(self.name, self.version, self.include, (*self.exclude, *labels))


def select(clips: Iterable[Clip], selection: Selection, ontology: Ontology) -> list[Clip]:
    """The clips with at least one included label and no excluded one (descendants count)."""
    keep = ontology.descendants(selection.include)
    drop = ontology.descendants(selection.exclude)
    return [clip for clip in clips
            if not drop.intersection(clip.labels) and keep.intersection(clip.labels)]
