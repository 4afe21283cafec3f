"""The sources stage's settings: which labels to keep and how segments of one video merge."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from stages.section import ConfigSection


class SourcesConfig(ConfigSection):
    # Infant vocalisation is what Cradle exists for; a name of a selection file shipped in
    # manifests/data (`<name>.selection.yaml`) or a path to one, so selections are versioned data.
    selection: str = "infant_vocalisation"
    # Extra label names or MIDs to exclude on top of the selection's own (e.g. "Music"): empty,
    # because the selection file already says what its version excludes.
    exclude: tuple[str, ...] = ()
    # Segments of one video closer than this merge into one clip: AudioSet's 10 s segments that
    # touch (gap 0) describe one continuous event, and one clip avoids cutting it in two.
    merge_gap_s: float = Field(default=0.0, ge=0)
    # AudioSet's ontology.json (labels and their children); empty: the one beside each list, as
    # Google ships them together. Not bundled: CC BY-SA data, downloaded with the lists.
    ontology: Path | None = None
