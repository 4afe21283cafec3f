"""The data root's layout: where every stage reads and writes its files.

The one place that says where a clip's files are: stages, flows, tests and the review UI ask
`DataRoot` (or the outputs the ledger recorded) instead of joining a folder and a clip id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDERS = ("raw", "audio", "faces", "fits", "shards", "runs", "models")
OPEN_FACE_MODEL = "open-face-model.h5"  # the open default face model, under models/


@dataclass(frozen=True)
class DataRoot:
    """Paths under `CRADLE_HOME`; every file in them is written atomically (manifests.files)."""

    home: Path

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def audio(self) -> Path:
        return self.home / "audio"

    @property
    def faces(self) -> Path:
        return self.home / "faces"

    @property
    def fits(self) -> Path:
        return self.home / "fits"

    @property
    def shards(self) -> Path:
        return self.home / "shards"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def demo(self) -> Path:
        """The generated offline demo corpus (`cradle demo-data`)."""
        return self.home / "demo"

    @property
    def prefect_home(self) -> Path:
        """Prefect's local SQLite server state, kept beside Cradle's own."""
        return self.home / "prefect"

    # -- one clip's files, stage by stage ------------------------------------------------------

    def raw_video(self, clip_id: str) -> Path:
        """Download: the exact segment, constant frame rate H.264."""
        return self.raw / f"{clip_id}.mp4"

    def raw_audio(self, clip_id: str) -> Path:
        """Download: the exact segment's audio, 16 kHz mono PCM."""
        return self.raw / f"{clip_id}.wav"

    def provenance(self, clip_id: str) -> Path:
        """Download: where the segment came from (untrusted source text, bounded)."""
        return self.raw / f"{clip_id}.json"

    def clean_audio(self, clip_id: str) -> Path:
        """Audio: the cleaned infant vocalisation."""
        return self.audio / f"{clip_id}.wav"

    def envelope(self, clip_id: str) -> Path:
        """Audio: per video frame activity and loudness."""
        return self.audio / f"{clip_id}.npz"

    def face_track(self, clip_id: str) -> Path:
        """Faces: landmarks, per-frame QC and good segments (`manifests.formats.facetrack`)."""
        return self.faces / f"{clip_id}.npz"

    def face_fit(self, clip_id: str) -> Path:
        """Fitting: face-model latents per frame (`manifests.formats.facefit`)."""
        return self.fits / f"{clip_id}.npz"

    @property
    def open_face_model(self) -> Path:
        return self.models / OPEN_FACE_MODEL

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def dataset_dir(self, name: str) -> Path:
        return self.shards / name

    def relative(self, path: Path) -> str:
        """`path` as metrics and exports name it: relative to the data root, never absolute."""
        try:
            return str(Path(path).resolve().relative_to(self.home.resolve()))
        except ValueError:
            return Path(path).name

    def create(self) -> DataRoot:
        """Makes every folder of the layout; harmless when they exist."""
        for name in FOLDERS:
            (self.home / name).mkdir(parents=True, exist_ok=True)
        return self
