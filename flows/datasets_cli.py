"""`cradle datasets`: list the training datasets, show one version's card, diff two versions.

Each command reads cards and manifests through `stages.shards.report` and only formats them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from flows.console import console, fail
from manifests.errors import CradleError
from manifests.formats.dataset import load_card
from stages.config import load_config
from stages.paths import DataRoot
from stages.shards.report import all_versions, diff_versions
from stages.shards.split import SPLITS

datasets = typer.Typer(help="Inspect versioned training datasets (shards).",
                       no_args_is_help=True)
_LISTED = 20  # keys printed per list in `diff`; the rest are counted
T = TypeVar("T")


@datasets.command("list")
def list_() -> None:
    """Every dataset version: samples, clips, hours, split sizes and shards."""
    cards = _run(all_versions)
    if not cards:
        console.print("No datasets yet. The nightly run builds them after fitting.")
        return
    table = Table("dataset", "version", "parent", "samples", "clips", "hours",
                  "train / val / test", "shards (new)")
    for card in cards:
        split = card.stats.get("by_split", {})
        sizes = " / ".join(str(split.get(s, {}).get("samples", 0)) for s in SPLITS)
        table.add_row(card.name, card.version, card.parent or "-", str(card.samples),
                      str(card.stats.get("clips", "?")), f"{card.stats.get('hours', 0):.2f}",
                      sizes, f"{len(card.shards)} ({card.stats.get('shards_new', '?')})")
    console.print(table)


@datasets.command()
def show(spec: Annotated[str, typer.Argument(help="NAME (latest version) or NAME@VERSION.")]
         ) -> None:
    """One version's card: lineage, settings, counts by split and label, shards."""
    card = _run(lambda shards: load_card(shards, spec))
    stats = card.stats
    console.print(f"[bold]{card.name}@{card.version}[/]  parent: {card.parent or '-'}  "
                  f"settings: {card.config_hash}")
    console.print(f"{card.samples} samples from {stats.get('clips', '?')} clips, "
                  f"{stats.get('hours', 0):.2f} h; {len(card.shards)} shards "
                  f"({stats.get('shards_new', '?')} new, {stats.get('shards_kept', '?')} kept)")
    splits = Table("split", "samples", "clips", "videos", "hours", title="by split")
    for name, row in stats.get("by_split", {}).items():
        splits.add_row(name, str(row["samples"]), str(row["clips"]), str(row["videos"]),
                       f"{row['hours']:.3f}")
    labels = Table("label", "samples", "hours", title="by label")
    for name, row in stats.get("by_label", {}).items():
        labels.add_row(name, str(row["samples"]), f"{row['hours']:.3f}")
    shards = Table("shard", "split", "samples", "MB", "sha256", title="shards")
    for ref in card.shards:
        shards.add_row(ref.path, ref.split, str(ref.samples), f"{ref.size_bytes / 1e6:.1f}",
                       ref.sha256[:16])
    console.print(splits, labels, shards)
    console.print("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(card.config.items())))
    for clip_id, why in stats.get("skipped_clips", {}).items():
        console.print(f"[yellow]left out[/] {clip_id}: {why}")


@datasets.command()
def diff(name: Annotated[str, typer.Argument(help="Dataset name.")],
         a: Annotated[str, typer.Argument(help="The older version, e.g. v0001.")],
         b: Annotated[str, typer.Argument(help="The newer version, e.g. v0002.")]) -> None:
    """What version B adds to and drops from version A: samples, clips, shards."""
    change = _run(lambda shards: diff_versions(shards, name, a, b))
    console.print(f"[bold]{name}: {change.a} → {change.b}[/]  "
                  f"{change.shards_shared} shards shared, {len(change.shards_added)} added, "
                  f"{len(change.shards_dropped)} dropped")
    for title, keys in (("samples added", change.samples_added),
                        ("samples removed", change.samples_removed),
                        ("clips added", change.clips_added),
                        ("clips removed", change.clips_removed)):
        console.print(f"{title}: {len(keys)}")
        for key in keys[:_LISTED]:
            console.print(f"  {key}")
        if len(keys) > _LISTED:
            console.print(f"  … and {len(keys) - _LISTED} more")


def _run(work: Callable[[Path], T]) -> T:
    """Runs a library call on the configured shards folder; Cradle errors end the command."""
    try:
        return work(DataRoot(load_config().home).shards)
    except CradleError as e:
        fail(e)

