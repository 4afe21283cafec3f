"""The face model that decodes a dataset version's latents, found from its card.

Latents mean nothing without the exact model that produced them, so the trainer loads the model
the card names and checks its content hash against the id every sample records: a rebuilt or
swapped model file is an error here, not silently wrong vertices in the losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from manifests.formats.dataset import DatasetCard, FaceModelRef
from model.face.base import FaceModel, FaceModelError
from model.face.hdf5 import load_face_model

_REBUILD = ("Use the file the version was built with, or re-run the fitting stage with the model "
            "you want (setting `fitting.face_model`, and `fitting.correspondence` for an INFACE "
            "file) and build a new version with `cradle run`.")


def load_card_face_model(card: DatasetCard, home: Path, *, model_path: Path | None = None,
                         correspondence_path: Path | None = None) -> FaceModel:
    """Loads the face model of `card` and checks that it is the one the samples were fitted with.

    Args:
        card: a dataset version's card (`manifests.formats.dataset.load_card`).
        home: the Cradle data home the card's paths are relative to (`CRADLE_HOME`).
        model_path, correspondence_path: where the files are when not at the card's place
            under `home`, e.g. INFACE weights kept elsewhere (the card then holds only the
            file's name).

    Returns:
        The model; `model.dims` gives the latent blocks, `model.decode` the vertices.

    Raises:
        FaceModelError: the card names no model, a file is missing, or the file's content
            hash differs from the card's `face_model.id`.
    """
    return load_entry_face_model(card.face_model, home, model_path=model_path,
                                 correspondence_path=correspondence_path,
                                 where=f"{card.name}@{card.version}")


def load_entry_face_model(entry: FaceModelRef | Mapping[str, Any] | None, home: Path, *,
                          model_path: Path | None = None,
                          correspondence_path: Path | None = None,
                          where: str = "the checkpoint") -> FaceModel:
    """`load_card_face_model` for a card's `face_model` entry alone, e.g. kept in a checkpoint.

    Args:
        entry: the card's `face_model` (a FaceModelRef or its `to_dict()`); None is refused.
        where: what the entry came from, for the messages.

    Raises:
        FaceModelError: as `load_card_face_model`.
    """
    if entry is None:
        raise FaceModelError(f"{where} names no face model: its card was written before cards "
                             "recorded one, or its samples were fitted with several models "
                             "(see the card's stats.by_face_model). Build a new dataset version "
                             "with `cradle run`.")
    ref = entry if isinstance(entry, FaceModelRef) else FaceModelRef.from_dict(dict(entry))
    if ref.path is None and model_path is None:
        raise FaceModelError(f"{where} was fitted with face model {ref.id}, but no file with "
                             "that hash was found when the version was built. Pass model_path= "
                             "or put the file in the data home's models/ and build a new "
                             "version.")
    path = Path(model_path) if model_path else Path(home) / str(ref.path)
    corr = Path(correspondence_path) if correspondence_path else (
        Path(home) / ref.correspondence if ref.correspondence else None)
    for role, file, named in (("face model", path, ref.path),
                              ("correspondence", corr, ref.correspondence)):
        if file is not None and not file.is_file():
            raise FaceModelError(f"{role} file {file} for {where} not found (the card names "
                                 f"{named!r}, relative to the data home {home}). Copy it from "
                                 "the machine that built the version, or pass model_path= / "
                                 f"correspondence_path=. {_REBUILD}")
    model = load_face_model(path, corr)
    if model.model_id != ref.id:
        raise FaceModelError(f"{path} is face model {model.model_id}, but {where}'s samples "
                             f"were fitted with {ref.id}: the file changed since the version "
                             f"was built (e.g. `cradle build-face-model` rebuilt the open "
                             f"model). {_REBUILD}")
    return model
