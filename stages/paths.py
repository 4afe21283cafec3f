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
class ClipFiles:
    """One clip's files under the data root, by the stage that writes them."""

    raw_video: Path  # download: the exact segment, constant frame rate H.264
    raw_audio: Path  # download: its audio, 16 kHz mono PCM
    provenance: Path  # download: where it came from (untrusted source text, bounded)
    clean_audio: Path  # audio: the cleaned infant vocalisation
    envelope: Path  # audio: per video frame activity and loudness
    face_track: Path  # faces: landmarks, per-frame QC, good segments (formats.facetrack)
    face_fit: Path  # fitting: face-model latents per frame (formats.facefit)


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
        """Face-model files and training runs (`models/<run>/`)."""
        return self.home / "models"

    @property
    def cache(self) -> Path:
        """Derived data that is safe to delete: audio features for training."""
        return self.home / "cache"

    @property
    def demo(self) -> Path:
        """The generated offline demo corpus (`cradle demo-data`)."""
        return self.home / "demo"

    @property
    def prefect_home(self) -> Path:
        """Prefect's local SQLite server state, kept beside Cradle's own."""
        return self.home / "prefect"

    def clip(self, clip_id: str) -> ClipFiles:
        """Where one clip's files are, stage by stage."""
        return ClipFiles(
            raw_video=self.raw / f"{clip_id}.mp4",
            raw_audio=self.raw / f"{clip_id}.wav",
            provenance=self.raw / f"{clip_id}.json",
            clean_audio=self.audio / f"{clip_id}.wav",
            envelope=self.audio / f"{clip_id}.npz",
            face_track=self.faces / f"{clip_id}.npz",
            face_fit=self.fits / f"{clip_id}.npz",
        )

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

    def recorded(self, path: Path) -> str:
        """How the ledger names an output: relative to the data root (absolute only outside it)."""
        try:
            return Path(path).resolve().relative_to(self.home.resolve()).as_posix()
        except ValueError:
            return str(Path(path).resolve())

    def relative_text(self, text: str) -> str:
        """`text` (a tool's error message) with the data root's absolute path taken out, so
        metrics and exports name files relative to it."""
        for home in {str(self.home.resolve()), str(self.home.absolute())}:
            text = text.replace(home + "/", "").replace(home, ".")
        return text

    def create(self) -> DataRoot:
        """Makes every folder of the layout; harmless when they exist."""
        for name in FOLDERS:
            (self.home / name).mkdir(parents=True, exist_ok=True)
        return self
