"""Reading datasets back for people: every version's card, and what changed between two versions.

The `cradle datasets` commands print these; they read the cards and the parquet manifests only,
never the tars, so they stay fast on datasets of any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from manifests.formats.dataset import DatasetCard, dataset_names, load_card, versions
from stages.shards.write import read_manifest


@dataclass(frozen=True)
class VersionDiff:
    """How version `b` of a dataset differs from version `a`."""

    name: str
    a: str
    b: str
    samples_added: tuple[str, ...]
    samples_removed: tuple[str, ...]
    clips_added: tuple[str, ...]
    clips_removed: tuple[str, ...]
    shards_shared: int
    shards_added: tuple[str, ...]
    shards_dropped: tuple[str, ...]


def all_versions(shards_dir: Path) -> list[DatasetCard]:
    """Every version of every dataset, by name and then oldest first."""
    return [load_card(shards_dir, f"{name}@{version}")
            for name in dataset_names(shards_dir) for version in versions(shards_dir / name)]


def samples_of(shards_dir: Path, card: DatasetCard) -> dict[str, str]:
    """Sample key → clip id for every sample of a version, from its shards' manifests."""
    out: dict[str, str] = {}
    for path in card.shard_paths(shards_dir / card.name):
        table = read_manifest(path).to_pydict()
        out.update(zip(table["sample_key"], table["clip_id"], strict=True))
    return out


def diff_versions(shards_dir: Path, name: str, a: str, b: str) -> VersionDiff:
    """Samples, clips and shards that version `b` adds to or drops from version `a`.

    Raises:
        DatasetNotFound: the dataset or either version does not exist.
    """
    old, new = load_card(shards_dir, f"{name}@{a}"), load_card(shards_dir, f"{name}@{b}")
    before, after = samples_of(shards_dir, old), samples_of(shards_dir, new)
    old_shards, new_shards = {s.path for s in old.shards}, {s.path for s in new.shards}
    return VersionDiff(
        name=name, a=old.version, b=new.version,
        samples_added=tuple(sorted(after.keys() - before.keys())),
        samples_removed=tuple(sorted(before.keys() - after.keys())),
        clips_added=tuple(sorted(set(after.values()) - set(before.values()))),
        clips_removed=tuple(sorted(set(before.values()) - set(after.values()))),
        shards_shared=len(old_shards & new_shards),
        shards_added=tuple(sorted(new_shards - old_shards)),
        shards_dropped=tuple(sorted(old_shards - new_shards)),
    )
