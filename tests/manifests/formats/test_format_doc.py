"""The sample format's one definition, its reference page, and the cards that point to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from manifests.formats.dataset import DatasetCard, FaceModelRef, ShardRef
from manifests.formats.format_doc import RECIPE, RECIPE_MARKER, REGENERATE, render
from manifests.formats.sample import MEMBERS, PER_CLIP, PER_FRAME

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "data-format.md"


def test_the_committed_page_is_the_rendered_definition() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        f"docs/data-format.md is stale; regenerate it with `{REGENERATE}`")


def test_the_entry_point_prints_the_page() -> None:
    out = subprocess.run([sys.executable, "-m", "manifests.formats.format_doc"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out == render()


def test_the_page_shows_the_recipe_after_its_marker_and_every_member() -> None:
    page = render()
    assert page.split(RECIPE_MARKER, 1)[1].lstrip().startswith("```python\n" + RECIPE)
    for member in MEMBERS:
        assert f"`{member.field.replace('|', chr(92) + '|')}`" in page


def test_the_array_dtypes_are_those_every_shard_was_written_with() -> None:
    # The writer and the reader key on these; a change here changes sample bytes.
    assert PER_FRAME == {"expression": "float32", "rotation": "float32",
                         "translation": "float32", "scale": "float32",
                         "landmarks": "float16", "vad": "float32"}
    assert PER_CLIP == {"identity": "float32", "age": "float32"}
    assert all(m.units and m.shape and m.meaning and m.frame for m in MEMBERS)


def old_card() -> dict:
    return {"format": 1, "name": "infant", "version": "v0001", "parent": None,
            "config": {"window_s": 4.0}, "config_hash": "0c35faae8adfb27e",
            "shards": [{"path": "v0001/train-000000.tar", "split": "train", "sha256": "ab",
                        "size_bytes": 10, "samples": 1}], "stats": {}}


def test_a_card_written_before_the_notes_is_read_with_them_empty() -> None:
    card = DatasetCard.from_dict(old_card())
    assert card.face_model is None and card.labels == {}
    assert (card.licence, card.consent, card.sample_format) == ("", "", 1)


def test_a_card_round_trips_its_face_model_and_notes() -> None:
    card = DatasetCard(name="infant", version="v0002", parent="v0001", config={},
                       config_hash="h", shards=(ShardRef("v0001/a.tar", "train", "ab", 1, 1),),
                       face_model=FaceModelRef(id="pca-1", name="open", path="models/m.h5",
                                               latent={"identity": (0, 2),
                                                       "expression": (2, 5), "age": (5, 5)},
                                               units="mm"),
                       labels={"/t/dd00002": "Baby cry, infant cry"}, licence="CC0",
                       consent="none needed: synthetic")
    data = card.to_dict()
    assert data["face_model"]["latent"]["expression"] == [2, 5]
    assert DatasetCard.from_dict(data) == card
