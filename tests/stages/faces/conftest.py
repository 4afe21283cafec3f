"""One demo corpus and one analysis per clip per session, shared by every faces test."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.faces.analysis import FaceMeasures
from stages.faces.testing import analyse_all
from tests.stages.faces.helpers import FACE_VARIANTS, reencode_like_download

REAL_VIDEOS = ("face_1.mp4", "face_3.mp4", "face_noface.mov", "noface_face.mov")


@pytest.fixture(scope="session")
def corpus(demo_corpus: Path) -> Path:
    return demo_corpus


@pytest.fixture(scope="session")
def demo_measures(corpus: Path) -> dict[str, FaceMeasures]:
    return analyse_all([corpus / f"{name}.mp4" for name in FACE_VARIANTS])


@pytest.fixture(scope="session")
def reencoded(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reencode_like_download(corpus, tmp_path_factory.mktemp("faces-reencoded"))


@pytest.fixture(scope="session")
def reencoded_measures(reencoded: Path) -> dict[str, FaceMeasures]:
    return analyse_all([reencoded / f"{name}.mp4" for name in FACE_VARIANTS])


@pytest.fixture(scope="session")
def real_videos(shared: Path) -> Path:
    return shared / "fixtures" / "faces" / "videos"


@pytest.fixture(scope="session")
def real_measures(real_videos: Path) -> dict[str, FaceMeasures]:
    return analyse_all([real_videos / name for name in REAL_VIDEOS])
