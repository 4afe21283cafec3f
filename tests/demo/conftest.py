"""The demo tests read the session's shared corpus (tests/conftest.py makes it once)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus(demo_corpus: Path) -> Path:
    return demo_corpus
