"""The shard sample format: the members of one training sample, their dtypes and shapes.

Defined once for the writer (`stages.shards.sample`) and the reader (`model.data`). A sample
`<key>` in a WebDataset tar has one member per array (`<key>.<name>.npy`), its audio
(`<key>.audio.wav` or `.flac`), its metadata (`<key>.json`) and, only when configured, its video
(`<key>.mp4`). The dataset card records `SAMPLE_FORMAT`; a reader refuses a format it does not
know instead of mis-reading it.
"""

from __future__ import annotations

from manifests.errors import CradleError

SAMPLE_FORMAT = 1  # bump when the bytes of a sample change for the same inputs
SAMPLE_RATE = 16_000  # Hz, the clean audio's rate

# Per-frame arrays, (T, ...) each, with the dtype they are stored in.
PER_FRAME: dict[str, str] = {
    "expression": "float32",  # (T, K) face-model expression latents
    "rotation": "float32",  # (T, 3, 3) model to camera
    "translation": "float32",  # (T, 2) px
    "scale": "float32",  # (T,) px per model unit
    "landmarks": "float16",  # (T, 478, 3) px
    "vad": "float32",  # (T, 4), columns VAD_COLUMNS
}
# Per-clip arrays, the same in every window of a clip.
PER_CLIP: dict[str, str] = {
    "identity": "float32",  # (I,)
    "age": "float32",  # (A,)
}
VAD_COLUMNS = ("infant", "adult_speech", "music", "loudness_db")
AUDIO_FORMATS = ("wav", "flac")
METADATA = "json"
VIDEO = "mp4"


class SampleFormatError(CradleError):
    """A dataset was written in a sample format this version of Cradle cannot read."""


def array_member(name: str) -> str:
    return f"{name}.npy"


def audio_member(audio_format: str) -> str:
    return f"audio.{audio_format}"


def check_format(found: int, where: str) -> None:
    """Raises SampleFormatError unless `found` is the format this code reads and writes."""
    if found != SAMPLE_FORMAT:
        raise SampleFormatError(f"{where} holds sample format {found}; this Cradle reads format "
                                f"{SAMPLE_FORMAT}. Rebuild the dataset (the nightly run or "
                                "build_dataset) or use the Cradle version that wrote it.")
