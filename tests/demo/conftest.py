"""The demo tests read the session's shared corpus (tests/conftest.py makes it once)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from demo.corpus import generate_corpus
from tests.conftest import DEMO_SEED

TRAIN_SIZE = 3  # one clip of each vocalisation: cry, laughter, babbling


@pytest.fixture(scope="session")
def corpus(demo_corpus: Path) -> Path:
    return demo_corpus


@pytest.fixture(scope="session")
def training_corpus(demo_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's corpus with `TRAIN_SIZE` training clips added (only they are rendered)."""
    out = tmp_path_factory.mktemp("demo-training") / "corpus"
    shutil.copytree(demo_corpus, out)
    generate_corpus(out, seed=DEMO_SEED, train_size=TRAIN_SIZE)
    return out
