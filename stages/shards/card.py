"""What a dataset card says beyond its shards: the face model, the label names, licence, consent.

A user of the shards needs these to make sense of the numbers: latents mean nothing without the
model that decodes them, and MIDs mean little without their names. Everything here is derived
from files and settings, never from the clock, so the same state gives the same card.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from manifests.errors import ConfigError
from manifests.formats.dataset import FaceModelRef
from model.face.base import FaceModel, FaceModelError, file_digest
from model.face.hdf5 import load_face_model
from model.face.open_model import OpenModelConfig
from stages.fitting.config import FittingConfig
from stages.paths import DataRoot
from stages.shards.config import ShardsConfig
from stages.shards.plan import SampleSpec
from stages.sources.ontology import Ontology

log = logging.getLogger(__name__)

OPEN = "open"
INFACE_UNITS = "mm"  # INFACE's published models are in millimetres
OPEN_UNITS = (f"mm, approximately: the open model is scaled so that the outer eye corners are "
              f"{OpenModelConfig().eye_distance:g} mm apart")


@dataclass(frozen=True)
class CardNotes:
    """The card's descriptive fields; a version whose notes differ is not the same version."""

    face_model: FaceModelRef | None
    labels: dict[str, str | None]
    licence: str
    consent: str


def card_notes(samples: Iterable[SampleSpec], cfg: ShardsConfig, root: DataRoot,
               fitting: FittingConfig | None = None,
               ontology: Ontology | Path | None = None) -> CardNotes:
    """The notes for a version holding `samples`.

    Args:
        fitting: the fitting settings, which name the configured face-model file; None: the
            defaults (the open model under the data home).
        ontology: AudioSet's ontology (or its ontology.json) for the label names; None leaves
            the names unknown (null in the card).
    """
    samples = list(samples)
    ids = Counter(spec.face_model_id for spec in samples)
    labels = sorted({label for spec in samples for label in spec.clip.labels})
    return CardNotes(face_model=describe_face_model(ids, fitting or FittingConfig(), root),
                     labels=label_names(labels, ontology), licence=cfg.licence,
                     consent=cfg.consent)


def describe_face_model(ids: Counter[str], fitting: FittingConfig,
                        root: DataRoot) -> FaceModelRef | None:
    """The card's `face_model`: the one model of the samples, found by its content hash.

    The configured model file is tried first, then every HDF5 file under the home's models/.
    None when the samples were fitted with several models (their latents are not comparable; the
    counts are in the card's stats) or hold none.
    """
    known = [model_id for model_id in ids if model_id]
    if len(known) != 1:
        if len(known) > 1:
            log.warning("shards: samples come from %d face models %s; the card names none. "
                        "Re-run fitting so that every clip uses the configured model.",
                        len(known), dict(ids))
        return None
    model_id = known[0]
    for name, path, corr in _candidates(fitting, root):
        if not _same_digest(model_id, path, corr):
            continue
        try:
            model = load_face_model(path, corr)
        except FaceModelError as e:
            log.warning("shards: face model %s matches by hash but does not load: %s", path, e)
            continue
        if model.model_id == model_id:
            return _ref(model, name, path, corr, root)
    log.warning("shards: no face-model file with id %s under %s or in the fitting settings; "
                "the card names the id only", model_id, root.models)
    return FaceModelRef(id=model_id)


def label_names(mids: Iterable[str], ontology: Ontology | Path | None) -> dict[str, str | None]:
    """MID -> AudioSet display name for `mids`; None where the ontology is missing or silent."""
    tree: Ontology | None = None
    if isinstance(ontology, Ontology):
        tree = ontology
    elif ontology is not None:
        try:
            tree = Ontology.load(ontology)
        except ConfigError as e:
            log.warning("shards: label names left out of the card: %s", e)
    return {mid: tree.names.get(mid) if tree else None for mid in sorted(mids)}


def _candidates(fitting: FittingConfig, root: DataRoot) -> Iterator[tuple[str, Path, Path | None]]:
    """(name, model file, correspondence) to try, the configured model first."""
    if fitting.face_model == OPEN:
        configured = root.open_face_model
        yield OPEN, configured, None
    else:
        configured = Path(fitting.face_model)
        corr = Path(fitting.correspondence) if fitting.correspondence else None
        yield configured.name, configured, corr
    if root.models.is_dir():
        for path in sorted(root.models.glob("*.h5")):
            if path.resolve() != configured.resolve():
                yield (OPEN if path == root.open_face_model else path.name), path, None


def _same_digest(model_id: str, path: Path, corr: Path | None) -> bool:
    """Whether the files hash to `model_id` (`<layout>-<digest>`), without building the model."""
    files = [path] if corr is None else [path, corr]
    if not all(f.is_file() for f in files):
        return False
    return model_id.rpartition("-")[2] == file_digest(*files)


def _ref(model: FaceModel, name: str, path: Path, corr: Path | None,
         root: DataRoot) -> FaceModelRef:
    dims = model.dims
    expression_end = dims.identity + dims.expression
    return FaceModelRef(
        id=model.model_id, name=name, path=root.relative(path),
        correspondence=root.relative(corr) if corr else None,
        latent={"identity": (0, dims.identity), "expression": (dims.identity, expression_end),
                "age": (expression_end, dims.total)},
        units=OPEN_UNITS if name == OPEN else INFACE_UNITS)
