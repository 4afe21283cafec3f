"""The trainer loads the face model a dataset card names, and only the very file it names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from manifests.formats.dataset import DatasetCard, FaceModelRef, load_card
from model.face.base import FaceModelError, LatentDims
from model.face.from_card import load_card_face_model, load_entry_face_model
from model.face.hdf5 import load_face_model
from model.face.testing import write_synthetic_pca
from stages.fitting.config import FittingConfig
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import EXPRESSION, SMALL, add_curated, clips_of, new_home

DIMS = LatentDims(4, EXPRESSION, 1)


def card_for(model_id: str, path: str | None = "models/open-face-model.h5") -> DatasetCard:
    return DatasetCard(name="infant", version="v0001", parent=None, config={}, config_hash="h",
                       shards=(), face_model=FaceModelRef(id=model_id, name="open", path=path))


def test_the_model_of_a_built_dataset_loads_from_its_card(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    built = load_face_model(write_synthetic_pca(root.open_face_model, DIMS))
    add_curated(ledger, root, clips_of(2, 2), model_id=built.model_id)
    build_dataset(ledger, root, SMALL, "infant")
    card = load_card(root.shards, "infant")
    model = load_card_face_model(card, root.home)
    assert model.model_id == built.model_id == card.face_model.id  # type: ignore[union-attr]
    assert model.dims == DIMS
    latent = torch.zeros(DIMS.total)
    assert model.decode(*model.split(latent)).shape[-1] == 3


def test_an_inface_file_kept_elsewhere_is_passed_by_path(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    weights = write_synthetic_pca(tmp_path / "weights" / "inface.h5", DIMS, seed=2)
    built = load_face_model(weights)
    add_curated(ledger, root, clips_of(2, 2), model_id=built.model_id)
    card = build_dataset(ledger, root, SMALL, "infant",
                         fitting=FittingConfig(face_model=str(weights)))
    with pytest.raises(FaceModelError, match=r"inface\.h5"):
        load_card_face_model(card, root.home)  # the card holds only the file's name
    assert load_card_face_model(card, root.home, model_path=weights).model_id == built.model_id


def test_a_missing_model_file_says_where_it_was_expected(tmp_path: Path) -> None:
    with pytest.raises(FaceModelError, match=r"not found.*models/open-face-model\.h5"):
        load_card_face_model(card_for("pca-0000"), tmp_path)


def test_a_rebuilt_model_file_is_refused_by_its_hash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    original = write_synthetic_pca(home / "models" / "open-face-model.h5", DIMS, seed=0)
    card = card_for(load_face_model(original).model_id)
    shutil.copy(write_synthetic_pca(tmp_path / "other.h5", DIMS, seed=1), original)
    with pytest.raises(FaceModelError, match=r"fitted with.*fitting\.face_model"):
        load_card_face_model(card, home)


def test_a_card_without_a_face_model_or_its_file_is_refused(tmp_path: Path) -> None:
    old = DatasetCard(name="infant", version="v0001", parent=None, config={},
                      config_hash="h", shards=())
    with pytest.raises(FaceModelError, match="names no face model"):
        load_card_face_model(old, tmp_path)
    with pytest.raises(FaceModelError, match="no file with that hash"):
        load_card_face_model(card_for("pca-0000", path=None), tmp_path)


def test_a_checkpoints_copy_of_the_card_entry_loads_the_same_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model = load_face_model(write_synthetic_pca(home / "models" / "open-face-model.h5", DIMS))
    entry = card_for(model.model_id).face_model.to_dict()  # type: ignore[union-attr]
    assert load_entry_face_model(entry, home).model_id == model.model_id
    with pytest.raises(FaceModelError, match="the checkpoint names no face model"):
        load_entry_face_model(None, home)
