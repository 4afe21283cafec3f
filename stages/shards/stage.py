"""The shards stage: a named, versioned WebDataset dataset built from the ledger's accepted clips.

`build_dataset` turns the current ledger state into a version under `shards/<dataset>/<version>/`:
one sample per window of every fitted segment, split by source video, packed into deterministic
tars with done markers and parquet manifests, described by a dataset card and recorded in the
ledger. A new version keeps every shard of the previous one whose samples are all unchanged and
writes new shards only for the rest, so nothing already published is rewritten; a shard found
damaged is rebuilt to its recorded bytes before the version is handed out.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from manifests.errors import CradleError
from manifests.formats.dataset import DatasetCard, ShardRef, load_card, version_name, version_number
from manifests.formats.dataset import versions as card_versions
from manifests.formats.shard import IncompleteShardError, ShardStamp, verify_shard
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from stages.fitting.config import FittingConfig
from stages.paths import DataRoot
from stages.shards.card import CardNotes, card_notes
from stages.shards.config import ShardsConfig
from stages.shards.plan import Plan, SampleSpec, plan_samples
from stages.shards.split import SPLITS
from stages.shards.write import read_manifest, write_one_shard
from stages.sources.ontology import Ontology

log = logging.getLogger(__name__)

STAGE = "shards"  # the clips' outcome name in the ledger
VERSION = "1"


class ShardRebuildError(CradleError):
    """A damaged shard was rebuilt but its bytes differ from the ones recorded: inputs changed."""


class NothingToShard(CradleError):
    """No clip has reached the shards yet and the dataset has no version: an empty first
    version would only mislead (a trainer would find nothing in it)."""


def build_dataset(ledger: Ledger, root: DataRoot, cfg: ShardsConfig, name: str, *,
                  fitting: FittingConfig | None = None,
                  ontology: Ontology | Path | None = None) -> DatasetCard:
    """Builds (or confirms) the version of dataset `name` that matches the ledger now.

    When the newest version already holds exactly the current samples under the same settings
    and its card says the same (face model, label names, licence, consent), no version is made:
    its shards are checked (and rebuilt if damaged) and its card returned. A card that only
    says something new makes a version that keeps every shard.

    Args:
        fitting: the fitting settings, naming the face-model file the card points to; None: the
            default (the open model under the data home).
        ontology: AudioSet's ontology (or its ontology.json path) for the card's label names;
            None leaves them null.

    Returns:
        The card of the version that matches the ledger: its name, parent, shards and counts.

    Raises:
        NothingToShard: no accepted sample and no earlier version.
        ShardRebuildError: a damaged shard cannot be rebuilt to its recorded bytes.
        LedgerError: the ledger cannot be written.
    """
    dataset_dir = root.dataset_dir(name)
    plan = plan_samples(ledger, root, cfg)
    current = {spec.key: spec for spec in plan.samples}
    config_hash = cfg.settings_hash()
    known = card_versions(dataset_dir)
    parent = load_card(root.shards, f"{name}@{known[-1]}") if known else None
    if not current and parent is None:
        raise NothingToShard(f"no clip has passed every stage yet: {name} gets no empty version")
    members = _members(dataset_dir, parent) if parent else {}
    notes = card_notes(plan.samples, cfg, root, fitting, ontology)
    if (parent and parent.config_hash == config_hash and _same_samples(members, current)
            and _notes_of(parent) == notes):
        log.info("shards: %s@%s already matches the ledger", name, parent.version)
        _repair(dataset_dir, parent.shards, members, current, cfg)
        _record(ledger, parent, dataset_dir)
        return parent

    reused = [ref for ref in (parent.shards if parent else ())
              if ref.path in members and _unchanged(members[ref.path], current)]
    _repair(dataset_dir, reused, members, current, cfg)
    covered = {key for ref in reused for key in members[ref.path]}
    version = version_name(max([0, *map(version_number, known),
                                *_ledger_versions(ledger, name)]) + 1)
    fresh = _write_new(dataset_dir, version, [s for k, s in current.items() if k not in covered],
                       cfg)
    shards = tuple(sorted([*reused, *fresh], key=lambda r: (SPLITS.index(r.split), r.path)))
    card = DatasetCard(name=name, version=version, parent=parent.version if parent else None,
                       config=cfg.settings(), config_hash=config_hash, shards=shards,
                       stats=_stats(plan, reused, fresh), face_model=notes.face_model,
                       labels=notes.labels, licence=notes.licence, consent=notes.consent)
    card.save(dataset_dir)  # the commit point: a version without a card does not exist
    _record(ledger, card, dataset_dir)
    log.info("shards: %s@%s: %d samples in %d shards (%d new, %d kept from %s)", name, version,
             card.samples, len(shards), len(fresh), len(reused), card.parent)
    return card


def record_clip_outcomes(ledger: Ledger, card: DatasetCard, run_id: str | None = None) -> int:
    """Gives each clip of the version a `shards` outcome naming it, once per version.

    So `cradle status` and the run's parquet export show which clips reached a dataset.

    Returns:
        How many clips were recorded now.
    """
    tag = f"{card.name}@{card.version}"
    samples = ledger.samples_per_clip(card.name, card.version)
    latest = ledger.latest(STAGE, list(samples))
    results = [StageResult.ok(clip_id, metrics={"dataset": tag, "samples": count})
               for clip_id, count in sorted(samples.items())
               if clip_id not in latest or latest[clip_id].metrics.get("dataset") != tag]
    ledger.record(STAGE, VERSION, card.config_hash, results, started_at=datetime.now(UTC),
                  run_id=run_id)
    return len(results)


def _members(dataset_dir: Path, card: DatasetCard) -> dict[str, dict[str, str]]:
    """Per shard of `card`: its samples' keys and fingerprints, from the parquet manifests.

    A shard whose manifest cannot be read is left out, so its samples are written anew.
    """
    out: dict[str, dict[str, str]] = {}
    for ref in card.shards:
        try:
            table = read_manifest(dataset_dir / ref.path).to_pydict()
        except (OSError, pa.ArrowException) as e:
            log.warning("shards: manifest of %s unreadable, its samples are rewritten: %r",
                        ref.path, e)
            continue
        out[ref.path] = dict(zip(table["sample_key"], table["fingerprint"], strict=True))
    return out


def _same_samples(members: dict[str, dict[str, str]], current: dict[str, SampleSpec]) -> bool:
    held = {key: fp for shard in members.values() for key, fp in shard.items()}
    return held == {key: spec.fingerprint for key, spec in current.items()}


def _unchanged(shard: dict[str, str], current: dict[str, SampleSpec]) -> bool:
    return all(key in current and current[key].fingerprint == fp for key, fp in shard.items())


def _repair(dataset_dir: Path, refs: Sequence[ShardRef], members: dict[str, dict[str, str]],
            current: dict[str, SampleSpec], cfg: ShardsConfig) -> None:
    """Rebuilds any shard of `refs` that is truncated, changed or lacks its done marker."""
    for ref in refs:
        tar = dataset_dir / ref.path
        try:
            verify_shard(tar, ref.sha256)
            continue
        except IncompleteShardError as e:
            log.warning("shards: %s; rebuilding it", e)
        specs = [current[key] for key in members[ref.path]]
        stamp = write_one_shard(tar, ref.path, specs, cfg)
        if stamp.sha256 != ref.sha256:
            raise ShardRebuildError(f"rebuilt {tar} but its sha256 {stamp.sha256} differs from "
                                    f"the recorded {ref.sha256}; its inputs changed since it was "
                                    "written. Build a new version instead.")


def _write_new(dataset_dir: Path, version: str, specs: list[SampleSpec],
               cfg: ShardsConfig) -> list[ShardRef]:
    """Packs new samples per split in key order; shards left whole by a crashed run are kept."""
    by_split: dict[str, list[SampleSpec]] = defaultdict(list)
    for spec in sorted(specs, key=lambda s: s.key):
        by_split[spec.split].append(spec)
    refs = []
    for split in SPLITS:
        chunks = by_split[split]
        for index, start in enumerate(range(0, len(chunks), cfg.samples_per_shard)):
            chunk = chunks[start:start + cfg.samples_per_shard]
            path = f"{version}/{split}-{index:06d}.tar"
            stamp = _finished(dataset_dir / path, chunk) or write_one_shard(
                dataset_dir / path, path, chunk, cfg)
            refs.append(ShardRef(path, split, stamp.sha256, stamp.size_bytes, stamp.samples))
    return refs


def _finished(tar: Path, chunk: list[SampleSpec]) -> ShardStamp | None:
    """The stamp of a shard a crashed run already finished with exactly these samples, else None."""
    try:
        stamp = verify_shard(tar)
        table = read_manifest(tar).to_pydict()
    except (IncompleteShardError, OSError, pa.ArrowException):  # not whole: write it again
        return None
    wanted = {"sample_key": [s.key for s in chunk], "fingerprint": [s.fingerprint for s in chunk]}
    same = all(table[column] == values for column, values in wanted.items())
    return stamp if same else None


def _stats(plan: Plan, reused: list[ShardRef], fresh: list[ShardRef]) -> dict[str, Any]:
    """Counts by split and label, hours, and what the version kept and added: the card's numbers."""
    splits: dict[str, dict[str, Any]] = {
        split: {"samples": 0, "clips": set(), "videos": set(), "hours": 0.0} for split in SPLITS}
    labels: Counter[str] = Counter()
    label_hours: dict[str, float] = defaultdict(float)
    for spec in plan.samples:
        hours = spec.frames / spec.fps / 3600
        entry = splits[spec.split]
        entry["samples"] += 1
        entry["hours"] += hours
        entry["clips"].add(spec.clip.id)
        entry["videos"].add(spec.clip.split_group or spec.clip.id)
        for label in spec.clip.labels:
            labels[label] += 1
            label_hours[label] += hours
    by_split = {split: {"samples": e["samples"], "clips": len(e["clips"]),
                        "videos": len(e["videos"]), "hours": round(e["hours"], 4)}
                for split, e in splits.items()}
    return {
        "samples": len(plan.samples),
        "clips": len({spec.clip.id for spec in plan.samples}),
        "hours": round(sum(e["hours"] for e in by_split.values()), 4),
        "by_split": by_split,
        "by_label": {label: {"samples": n, "hours": round(label_hours[label], 4)}
                     for label, n in sorted(labels.items())},
        "shards_new": len(fresh),
        "shards_kept": len(reused),
        "skipped_clips": dict(sorted(plan.skipped.items())),
        "by_face_model": dict(sorted(Counter(spec.face_model_id
                                             for spec in plan.samples).items())),
    }


def _notes_of(card: DatasetCard) -> CardNotes:
    return CardNotes(card.face_model, card.labels, card.licence, card.consent)


def _ledger_versions(ledger: Ledger, dataset: str) -> list[int]:
    """Versions the ledger knows, so a version name is never reused even if its folder is gone."""
    return [version_number(name) for name in ledger.dataset_versions(dataset)]


def _record(ledger: Ledger, card: DatasetCard, dataset_dir: Path) -> None:
    """Records every shard of the version (kept ones too) with its members; idempotent."""
    recorded = ledger.shard_hashes(card.name, card.version)
    for ref in card.shards:
        if ref.path in recorded:
            if recorded[ref.path] != ref.sha256:
                raise ShardRebuildError(f"{card.name}@{card.version}: the ledger holds another "
                                        f"sha256 for {ref.path}; the version was rebuilt from "
                                        "different inputs")
            continue
        table = read_manifest(dataset_dir / ref.path).to_pydict()
        ledger.add_shard(card.name, card.version, ref.path, ref.sha256, ref.size_bytes,
                         list(zip(table["sample_key"], table["clip_id"], strict=True)))
