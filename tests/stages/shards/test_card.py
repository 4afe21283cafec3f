"""The dataset card says what decodes the latents, what the labels are, and on what terms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manifests.formats.dataset import CARD
from model.face.base import LatentDims
from model.face.hdf5 import load_face_model
from model.face.testing import write_synthetic_pca
from stages.config import load_config
from stages.fitting.config import FittingConfig
from stages.shards.config import ShardsConfig
from stages.shards.stage import build_dataset
from tests.stages.shards.helpers import EXPRESSION, SMALL, add_curated, clips_of, new_home

DIMS = LatentDims(4, EXPRESSION, 1)  # the synthetic fits' latent sizes


def card_text(root, card) -> str:
    return (root.dataset_dir(card.name) / card.version / CARD).read_text()


def test_the_card_names_the_open_model_by_its_hash_and_a_home_relative_path(
        tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    model = load_face_model(write_synthetic_pca(root.open_face_model, DIMS))
    add_curated(ledger, root, clips_of(3, 2), model_id=model.model_id)
    card = build_dataset(ledger, root, SMALL, "infant")
    written = json.loads(card_text(root, card))["face_model"]
    assert written == {"id": model.model_id, "name": "open", "path": "models/open-face-model.h5",
                       "correspondence": None,
                       "latent": {"identity": [0, 4], "expression": [4, 4 + EXPRESSION],
                                  "age": [4 + EXPRESSION, 5 + EXPRESSION]},
                       "units": written["units"]}
    assert written["units"].startswith("mm")
    assert str(tmp_path) not in card_text(root, card)  # no absolute local path is exported


def test_an_inface_file_outside_the_home_is_named_by_its_file_name_only(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    weights = write_synthetic_pca(tmp_path / "elsewhere" / "inface_pca.h5", DIMS, seed=3)
    model = load_face_model(weights)
    add_curated(ledger, root, clips_of(2, 2), model_id=model.model_id)
    card = build_dataset(ledger, root, SMALL, "infant",
                         fitting=FittingConfig(face_model=str(weights)))
    assert card.face_model is not None
    assert (card.face_model.id, card.face_model.name) == (model.model_id, "inface_pca.h5")
    assert (card.face_model.path, card.face_model.units) == ("inface_pca.h5", "mm")
    assert str(tmp_path) not in card_text(root, card)


def test_samples_of_several_models_leave_the_card_without_one(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(2, 2), model_id="pca-aaaa")
    add_curated(ledger, root, clips_of(2, 2, offset=5), model_id="pca-bbbb")
    card = build_dataset(ledger, root, SMALL, "infant")
    assert card.face_model is None
    assert set(card.stats["by_face_model"]) == {"pca-aaaa", "pca-bbbb"}


def test_labels_get_their_ontology_names(tmp_path: Path, shared: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(2, 2))
    ontology = shared / "fixtures/audioset/ontology.json"
    card = build_dataset(ledger, root, SMALL, "infant", ontology=ontology)
    assert card.labels == {"/t/dd00002": "Baby cry, infant cry"}


def test_without_an_ontology_the_labels_are_listed_with_unknown_names(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(2, 2))
    assert build_dataset(ledger, root, SMALL, "infant").labels == {"/t/dd00002": None}


def test_the_card_is_byte_identical_across_rebuilds_and_homes(tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        ledger, root = new_home(tmp_path / name)
        model = load_face_model(write_synthetic_pca(root.open_face_model, DIMS))
        add_curated(ledger, root, clips_of(3, 2), model_id=model.model_id)
        card = build_dataset(ledger, root, SMALL, "infant")
        assert build_dataset(ledger, root, SMALL, "infant") == card  # no new version
        texts.append(card_text(root, card))
    assert texts[0] == texts[1]


def test_new_licence_text_makes_a_version_that_keeps_every_shard(tmp_path: Path) -> None:
    ledger, root = new_home(tmp_path)
    add_curated(ledger, root, clips_of(3, 2))
    v1 = build_dataset(ledger, root, SMALL, "infant")
    reworded = SMALL.model_copy(update={"licence": "CC BY-NC 4.0, research only",
                                        "consent": "guardians consented, form 2025-3"})
    v2 = build_dataset(ledger, root, reworded, "infant")
    assert (v2.version, v2.licence, v2.consent) == (
        "v0002", "CC BY-NC 4.0, research only", "guardians consented, form 2025-3")
    assert v2.shards == v1.shards and v2.stats["shards_new"] == 0
    assert v2.config_hash == v1.config_hash and "licence" not in v2.config
    assert v1.licence.startswith("No licence has been set")


# Measured before the card notes existed: adding them must not re-judge or rewrite anything.
DEFAULT_SHARDS_HASH = "0c35faae8adfb27e"
DEFAULT_SAMPLE_HASH = "3ecb8f54ae54f9ef"


def test_card_notes_do_not_change_the_sections_hashes() -> None:
    assert ShardsConfig().settings_hash() == DEFAULT_SHARDS_HASH
    assert ShardsConfig().sample_hash() == DEFAULT_SAMPLE_HASH
    assert load_config().section_hash("shards") == DEFAULT_SHARDS_HASH
    noted = ShardsConfig(licence="CC0", consent="written consent")
    assert (noted.settings_hash(), noted.sample_hash()) == (DEFAULT_SHARDS_HASH,
                                                            DEFAULT_SAMPLE_HASH)
    assert ShardsConfig(window_s=2.0).settings_hash() != DEFAULT_SHARDS_HASH


@pytest.mark.parametrize("field", ["licence", "consent"])
def test_card_notes_are_set_from_the_environment(field: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"CRADLE_SHARDS__{field.upper()}", "see LICENSE-DATA.md")
    assert getattr(load_config().shards, field) == "see LICENSE-DATA.md"
