"""`generate_corpus`: the whole offline demo corpus, its AudioSet manifest and its index.

Re-running with the same seed and training-set size on an intact corpus writes nothing; a clip
whose files are missing or changed is rendered again (with the corrupt clips derived from it); a
new size renders or removes only the training clips it adds or drops.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from demo.clip import render_clip
from demo.face import photo_landmarks
from demo.training import training_variants
from demo.variants import VARIANTS, Variant
from manifests.files import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION = "2"  # bump whenever the same seed would give different clips
INDEX_NAME = "corpus.json"
SEGMENTS_NAME = "segments.csv"


def corpus_variants(train_size: int) -> tuple[Variant, ...]:
    """Every clip of a corpus with `train_size` training clips, in its order: a dry run lists
    what `generate_corpus` would make from these without rendering anything."""
    return VARIANTS + training_variants(train_size)


def clip_files(v: Variant) -> list[str]:
    """The file names one clip owns in the corpus folder."""
    if v.derive:
        return [f"{v.name}.mp4", f"{v.name}.json"]
    return [f"{v.name}.mp4", f"{v.name}.infant.wav", f"{v.name}.json"]


def generate_corpus(out_dir: Path, seed: int = 0, workers: int = 2,
                    train_size: int = 0) -> dict[str, Any]:
    """Writes the demo corpus (mp4 + ground-truth JSON per clip, segments.csv, corpus.json).

    Args:
        out_dir: the corpus folder; created if missing.
        seed: the same seed gives the same ground truth and audio samples.
        workers: processes rendering clips in parallel (1 renders in this process).
        train_size: clean training clips (`demo.training`) after the 15 failure variants.

    Returns:
        The corpus index, as written to `corpus.json`.

    Raises:
        ValueError: `train_size` is negative.
    """
    out_dir = Path(out_dir)
    variants = corpus_variants(train_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    old = _read_index(out_dir)
    intact = _intact_clips(out_dir, old, seed) & {v.name for v in variants}
    if (old is not None and old.get("train_size") == train_size and len(intact) == len(variants)
            and _intact_extras(out_dir, old)):
        log.info("demo corpus %s/ is intact (seed %d, %d training clips); nothing to do",
                 out_dir.name, seed, train_size)
        return old
    started = time.perf_counter()
    _remove_dropped(out_dir, old, variants)
    rendered = [v for v in variants if not v.derive and v.name not in intact]
    if rendered:
        # Landmarks once, here; the workers then need neither mediapipe nor its start-up time.
        photos = {p for v in rendered for p in (v.photo, v.second_photo) if p}
        landmarks = {p: photo_landmarks(p) for p in sorted(photos)}
        if workers > 1 and len(rendered) > 1:
            context = multiprocessing.get_context("spawn")  # mediapipe's threads forbid fork
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                list(pool.map(render_clip, rendered, [seed] * len(rendered),
                              [out_dir] * len(rendered), [landmarks] * len(rendered)))
        else:
            for v in rendered:
                render_clip(v, seed, out_dir, landmarks)
    redone = {v.name for v in rendered}
    for v in variants:
        if v.derive and (v.name not in intact or v.source in redone):
            _derive(v, out_dir)
    index = _index(out_dir, seed, variants, train_size)
    atomic_write_text(out_dir / SEGMENTS_NAME, segments_csv(seed, variants))
    index["files"] = {SEGMENTS_NAME: sha256_file(out_dir / SEGMENTS_NAME)}
    atomic_write_json(out_dir / INDEX_NAME, index)
    log.info("demo corpus: %d clips rendered in %.1f s into %s/", len(rendered),
             time.perf_counter() - started, out_dir.name)
    return index


def _remove_dropped(out_dir: Path, old: dict[str, Any] | None,
                    variants: tuple[Variant, ...]) -> None:
    """Deletes the files of clips the old index lists and this corpus no longer has."""
    keep = {v.name for v in variants}
    for clip in (old or {}).get("clips", []):
        if clip["name"] not in keep:
            for name in clip.get("files", []):
                (out_dir / name).unlink(missing_ok=True)


def _derive(v: Variant, out_dir: Path) -> None:
    """Makes a corrupt clip from its finished source clip, in the declared way."""
    source = out_dir / f"{v.source}.mp4"
    target = out_dir / f"{v.name}.mp4"
    if v.derive == "empty":
        atomic_write_bytes(target, b"")
    elif v.derive == "truncated":
        # Without +faststart the moov atom comes last, so cutting the tail leaves no index.
        with atomic_path(target) as tmp:
            _ffmpeg(["-i", str(source), "-map", "0", "-c", "copy", "-fflags", "+bitexact",
                     str(tmp)])
            data = tmp.read_bytes()
            tmp.write_bytes(data[: int(len(data) * 0.6)])
    elif v.derive in ("no_audio", "audio_only"):
        drop = ["-an"] if v.derive == "no_audio" else ["-vn"]
        with atomic_path(target) as tmp:
            _ffmpeg(["-i", str(source), *drop, "-c", "copy", "-fflags", "+bitexact",
                     "-movflags", "+faststart", str(tmp)])
    else:
        raise ValueError(f"unknown derivation {v.derive!r} for {v.name}")
    truth = json.loads((out_dir / f"{v.source}.json").read_text())
    truth.update(name=v.name, expected=v.expected(), derived_from=v.source, derive=v.derive)
    if v.derive in ("empty", "truncated", "audio_only"):
        truth.pop("frames")
        truth["video"] = None
    if v.derive in ("empty", "truncated", "no_audio"):
        truth["audio"] = None
    atomic_write_json(out_dir / f"{v.name}.json", truth)


def _ffmpeg(args: list[str]) -> None:
    cmd = ["ffmpeg", "-y", "-v", "error", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}: {result.stderr[-500:]}")


def segments_csv(seed: int, variants: tuple[Variant, ...] = VARIANTS) -> str:
    """The corpus as an AudioSet segments CSV (YTID = file stem, the segment = the whole file)."""
    labels = {label for v in variants for label in v.labels}
    n_positive = sum(len(v.labels) for v in variants)
    lines = [
        f"# Segments csv created by the Cradle demo generator v{GENERATOR_VERSION}, seed {seed}",
        f"# num_ytids={len(variants)}, num_segs={len(variants)}, "
        f"num_unique_labels={len(labels)}, num_positive_labels={n_positive}",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    for v in variants:
        lines.append(f'{v.name}, 0.000, {v.duration_s:.3f}, "{",".join(v.labels)}"')
    return "\n".join(lines) + "\n"


def _index(out_dir: Path, seed: int, variants: tuple[Variant, ...],
           train_size: int) -> dict[str, Any]:
    clips = []
    for v in variants:
        files = clip_files(v)
        clips.append({"name": v.name, "files": files, "expected": v.expected(),
                      "duration_s": v.duration_s,
                      "sha256": {f: sha256_file(out_dir / f) for f in files}})
    return {"generator": "cradle.demo", "version": GENERATOR_VERSION, "seed": seed,
            "train_size": train_size, "segments": SEGMENTS_NAME, "clips": clips}


def _read_index(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / INDEX_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("ignoring an unreadable %s in %s", INDEX_NAME, out_dir)
        return None


def _intact_clips(out_dir: Path, index: dict[str, Any] | None, seed: int) -> set[str]:
    """Clips whose files all exist with the hashes the index recorded for this seed."""
    if index is None or index.get("seed") != seed or index.get("version") != GENERATOR_VERSION:
        return set()
    intact = set()
    for clip in index.get("clips", []):
        hashes = clip.get("sha256", {})
        if all((out_dir / f).is_file() and sha256_file(out_dir / f) == h
               for f, h in hashes.items()):
            intact.add(clip["name"])
    return intact


def _intact_extras(out_dir: Path, index: dict[str, Any]) -> bool:
    return all((out_dir / f).is_file() and sha256_file(out_dir / f) == h
               for f, h in index.get("files", {}).items())
