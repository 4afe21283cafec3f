"""The shard sample format: every member of one training sample, its dtype, shape and units.

Defined once, as data, for the writer (`stages.shards.sample`), the reader (`model.data`) and the
reference page (`docs/data-format.md`, rendered from this module by `manifests.formats.format_doc`).
A sample `<key>` in a WebDataset tar has one member per array (`<key>.<name>.npy`), its audio
(`<key>.audio.wav` or `.flac`), its metadata (`<key>.json`) and, only when configured, its video
(`<key>.mp4`). The dataset card records `SAMPLE_FORMAT`; a reader refuses a format it does not
know instead of mis-reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from manifests.errors import CradleError

SAMPLE_FORMAT = 1  # bump when the bytes of a sample change for the same inputs
SAMPLE_RATE = 16_000  # Hz, the clean audio's rate
LANDMARK_COUNT = 478  # MediaPipe FaceMesh with irises (manifests.facemesh.LANDMARKS)
VAD_COLUMNS = ("infant", "adult_speech", "music", "loudness_db")
AUDIO_FORMATS = ("wav", "flac")
METADATA = "json"
VIDEO = "mp4"

Scope = Literal["frame", "clip", "sample"]


@dataclass(frozen=True)
class Member:
    """One member of a sample: the field WebDataset names it by, and what its numbers mean.

    `shape` is symbolic (the symbols are in `SYMBOLS`); `units` and `frame` say how to read the
    values, so a user never has to reverse-engineer them from the fitting code.
    """

    name: str
    field: str  # the WebDataset field, the member name after `<key>.`
    scope: Scope  # frame: one row per video frame; clip: the same in every window of a clip
    dtype: str
    shape: str
    units: str
    frame: str  # the coordinate frame, or "-" where there is none
    meaning: str


@dataclass(frozen=True)
class MetadataKey:
    """One key of a sample's JSON metadata."""

    name: str
    type: str
    meaning: str


SYMBOLS: dict[str, str] = {
    "T": "frames in the window: `window_s` * fps (120 at the defaults); the last window of a "
         "segment may be shorter, down to `min_window_s` * fps",
    "K": "expression latent size: the span `face_model.latent.expression` of the card",
    "I": "identity latent size: the span `face_model.latent.identity`",
    "A": "age latent size: the span `face_model.latent.age` (0 for the open model)",
    "S": f"audio samples of the window: round(end_frame * {SAMPLE_RATE} / fps) - "
         f"round(start_frame * {SAMPLE_RATE} / fps)",
}

_MODEL_FRAME = "model frame: x right, y up, z towards the viewer"
_IMAGE_FRAME = "image: x right, y down, origin at the frame's top-left corner"


def _array(name: str, scope: Scope, dtype: str, shape: str, units: str, frame: str,
           meaning: str) -> Member:
    return Member(name, f"{name}.npy", scope, dtype, shape, units, frame, meaning)


ARRAYS: tuple[Member, ...] = (
    _array("expression", "frame", "float32", "(T, K)",
           "the face model's raw latent units (not whitened)", "-",
           "per-frame expression latent; decode it with the card's face model"),
    _array("rotation", "frame", "float32", "(T, 3, 3)", "rotation matrix",
           "model to camera, both in the " + _MODEL_FRAME,
           "head rotation of the scaled orthographic camera: image x, y = translation + "
           "scale * (rotation @ v)[:2] * (1, -1) for a model vertex v"),
    _array("translation", "frame", "float32", "(T, 2)", "px", _IMAGE_FRAME,
           "where the model's origin projects in the clip's frames"),
    _array("scale", "frame", "float32", "(T,)", "px per model unit", "-",
           "orthographic scale: the image size of one model unit (`face_model.units`)"),
    _array("landmarks", "frame", "float16", f"(T, {LANDMARK_COUNT}, 3)",
           "px; z on the same scale as x (float16: 0.5 px steps above 512 px, 1 px above 1024)",
           _IMAGE_FRAME + "; z is MediaPipe's relative depth (about 0 at the head's centre, "
           "smaller is nearer the camera) times the frame width",
           "MediaPipe FaceMesh landmarks of the target face (468 mesh points, 10 iris points); "
           "NaN on frames with no face, i.e. short gaps bridged inside a segment"),
    _array("vad", "frame", "float32", "(T, 4)",
           "infant, adult_speech, music: fraction 0-1; loudness_db: dBFS",
           f"columns {', '.join(VAD_COLUMNS)}",
           "per video frame: the share of its 10 ms audio frames judged infant vocalisation, "
           "adult speech and music, and the clean audio's RMS loudness (-120 where the audio "
           "ends before the video)"),
    _array("identity", "clip", "float32", "(I,)",
           "the face model's raw latent units (not whitened)", "-",
           "the clip's identity latent, fitted once per clip"),
    _array("age", "clip", "float32", "(A,)", "the face model's raw latent units (not whitened)",
           "-", "the clip's age latent, fitted once per clip; empty for the open model"),
)
AUDIO = Member("audio", "audio.wav | audio.flac", "sample", "int16 PCM", "(S,)",
               f"mono, {SAMPLE_RATE} Hz, 16-bit", "-",
               "the cleaned infant vocalisation for exactly the window's frames; zeros where "
               "the audio ends before the video; FLAC when `shards.audio_format` is flac")
METADATA_MEMBER = Member("metadata", METADATA, "sample", "UTF-8 JSON, sorted keys", "object",
                         "-", "-", "where the sample came from and how it was judged "
                         "(the keys are below)")
VIDEO_MEMBER = Member("video", VIDEO, "sample", "H.264 in MP4", "T frames", "-", _IMAGE_FRAME,
                      "the window's raw frames, only when `shards.include_video` is on "
                      "(privacy: off by default)")
MEMBERS: tuple[Member, ...] = (*ARRAYS, AUDIO, METADATA_MEMBER, VIDEO_MEMBER)

# Name -> dtype of the arrays, as the writer stores them and the reader loads them.
PER_FRAME: dict[str, str] = {m.name: m.dtype for m in ARRAYS if m.scope == "frame"}
PER_CLIP: dict[str, str] = {m.name: m.dtype for m in ARRAYS if m.scope == "clip"}

METADATA_KEYS: tuple[MetadataKey, ...] = (
    MetadataKey("key", "str", "the sample key: `<clip id>_<start frame>_<end frame>`, "
                "dots replaced by `_`"),
    MetadataKey("clip_id", "str", "the clip in the ledger"),
    MetadataKey("source", "str", "the list the clip came from, e.g. `audioset:eval_segments.csv`"),
    MetadataKey("labels", "list[str]", "the clip's AudioSet MIDs; names in the card's `labels`"),
    MetadataKey("split", "str", "train, val or test"),
    MetadataKey("split_group", "str", "the source video; no video is in two splits"),
    MetadataKey("fps", "float", "video frame rate of the window (30)"),
    MetadataKey("sample_rate", "int", f"audio sample rate ({SAMPLE_RATE})"),
    MetadataKey("start_frame", "int", "first frame of the window in the clip, inclusive"),
    MetadataKey("end_frame", "int", "end of the window in the clip, exclusive"),
    MetadataKey("frames", "int", "T, end_frame - start_frame"),
    MetadataKey("start_s", "float", "start_frame / fps, seconds into the clip"),
    MetadataKey("duration_s", "float", "frames / fps"),
    MetadataKey("vad_columns", "list[str]", f"the columns of `vad`: {', '.join(VAD_COLUMNS)}"),
    MetadataKey("qc", "object", "`qc.window`: means over the window (`residual_px_mean` of the "
                "fit, `infant_activity_mean`, and each face-track QC array such as `coverage`, "
                "`yaw_deg`, `face_size_px`); `qc.<stage>`: that stage's ledger metrics for the "
                "clip; null where a value is not finite"),
    MetadataKey("face_model_id", "str", "content hash of the face model that produced the "
                "latents; equals the card's `face_model.id`"),
    MetadataKey("fit_sha256", "str", "sha256 of the clip's fit file (`fits/<clip>.npz`)"),
    MetadataKey("stages", "object", "per stage (download, audio, faces, fitting): `version`, "
                "`config_hash` and `attempt` of the ledger result the sample was built from, and "
                "`review` (\"override\") where an annotator overrode that result's verdict"),
    MetadataKey("sample_settings_hash", "str", "hash of the shards settings that shape sample "
                "bytes (all but `samples_per_shard` and the card notes)"),
    MetadataKey("has_video", "bool", "whether the sample has an `mp4` member"),
)


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
