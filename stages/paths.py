"""The data root's layout: where every stage reads and writes its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDERS = ("raw", "audio", "faces", "fits", "shards", "runs", "models")


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

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def create(self) -> DataRoot:
        """Makes every folder of the layout; harmless when they exist."""
        for name in FOLDERS:
            (self.home / name).mkdir(parents=True, exist_ok=True)
        return self
