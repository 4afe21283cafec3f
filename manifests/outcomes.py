"""What a stage says about a clip: a status, a reason code and the measurements behind it.

One enum of reason codes is shared by the ledger, the reports and the review UI, so a rejection
reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

# The curation stages in pipeline order; reports and the status table follow this order.
PIPELINE_STAGES: tuple[str, ...] = ("sources", "download", "audio", "faces", "fitting", "shards")
# Metric keys that say how a run went (timings, retries, the breaker) rather than what the clip
# is: the ledger keeps them, shards leave them out so that the same clips give the same bytes.
RUN_METRICS = frozenset({"seconds", "rate_wait_s", "tries", "attempts", "breaker",
                         "breaker_opened_at"})


class Status(StrEnum):
    """How one attempt of one stage on one clip ended."""

    OK = "ok"  # outputs written; the next stage may run
    REJECTED = "rejected"  # a data verdict: the clip is unusable, for the reason given
    RETRY = "retry"  # a transient fault (timeout, 5xx, 429): try again in a later run
    FAILED = "failed"  # a permanent fault (private video, corrupt media): do not try again


class ReasonCode(StrEnum):
    """Why a clip was rejected, or why an attempt failed or must be retried."""

    # sources / download
    VIDEO_UNAVAILABLE = "video_unavailable"
    VIDEO_PRIVATE = "video_private"
    VIDEO_REMOVED = "video_removed"
    AGE_RESTRICTED = "age_restricted"
    GEO_RESTRICTED = "geo_restricted"
    RATE_LIMITED = "rate_limited"
    BOT_CHECK = "bot_check"
    NETWORK_ERROR = "network_error"
    TIMEOUT = "timeout"
    CORRUPT_MEDIA = "corrupt_media"
    NO_AUDIO_STREAM = "no_audio_stream"
    NO_VIDEO_STREAM = "no_video_stream"
    DURATION_MISMATCH = "duration_mismatch"
    CORRUPT_CONTAINER = "corrupt_container"
    NOT_A_VIDEO = "not_a_video"
    UNSUPPORTED_CODEC = "unsupported_codec"
    FRAME_TOO_SMALL = "frame_too_small"
    CLIP_TOO_LONG = "clip_too_long"
    # audio
    SILENT = "silent"
    CLIPPING = "clipping"
    LOW_SNR = "low_snr"
    ADULT_SPEECH = "adult_speech"
    MUSIC = "music"
    NO_INFANT_VOCALISATION = "no_infant_vocalisation"
    OTHER_VOICE = "other_voice"
    # faces
    FACE_NOT_FOUND = "face_not_found"
    FACE_OUT_OF_FRAME = "face_out_of_frame"
    FACE_TURNED = "face_turned"
    MOUTH_OCCLUDED = "mouth_occluded"
    UPPER_FACE_OCCLUDED = "upper_face_occluded"
    STATIC_VIDEO = "static_video"
    FACE_TOO_SMALL = "face_too_small"
    SEVERAL_FACES = "several_faces"
    NO_LONG_SEGMENT = "no_long_segment"
    # fitting
    FIT_DIVERGED = "fit_diverged"
    FIT_HIGH_RESIDUAL = "fit_high_residual"
    # any stage
    MISSING_INPUT = "missing_input"
    RAW_MEDIA_PURGED = "raw_media_purged"
    INTERNAL_ERROR = "internal_error"

    @property
    def description(self) -> str:
        """A sentence an annotator can read in the review UI and in reports."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[ReasonCode, str] = {
    ReasonCode.VIDEO_UNAVAILABLE: "The video could not be found at its source.",
    ReasonCode.VIDEO_PRIVATE: "The video is private.",
    ReasonCode.VIDEO_REMOVED: "The video was removed by its uploader or the platform.",
    ReasonCode.AGE_RESTRICTED: "The video is age-restricted.",
    ReasonCode.GEO_RESTRICTED: "The video is not available from this location.",
    ReasonCode.RATE_LIMITED: "The source rate-limited us (HTTP 429); downloads paused.",
    ReasonCode.BOT_CHECK: "The source asked for a bot check; downloads paused.",
    ReasonCode.NETWORK_ERROR: "A network error or server error interrupted the download.",
    ReasonCode.TIMEOUT: "The download timed out.",
    ReasonCode.CORRUPT_MEDIA: "The media file is corrupt or cannot be decoded.",
    ReasonCode.NO_AUDIO_STREAM: "The media has no audio stream.",
    ReasonCode.NO_VIDEO_STREAM: "The media has no video stream.",
    ReasonCode.DURATION_MISMATCH: "The media is shorter or longer than the requested segment.",
    ReasonCode.CORRUPT_CONTAINER: ("The file cannot be parsed as media: it is empty, truncated, "
                                   "or its index (e.g. the mp4 moov atom) is missing or broken."),
    ReasonCode.NOT_A_VIDEO: "The file is not a video: an image, a web page or other text.",
    ReasonCode.UNSUPPORTED_CODEC: "A stream is in a codec that ffmpeg cannot decode.",
    ReasonCode.FRAME_TOO_SMALL: "The video's frame is too small to show a face.",
    ReasonCode.CLIP_TOO_LONG: ("The segment is longer than `download.max_duration_s`: it is "
                               "rejected before anything is fetched."),
    ReasonCode.SILENT: "The audio is (nearly) silent.",
    ReasonCode.CLIPPING: "Too many audio samples are clipped.",
    ReasonCode.LOW_SNR: "The vocalisation is too weak against the background noise.",
    ReasonCode.ADULT_SPEECH: "Adult speech covers too much of the clip.",
    ReasonCode.MUSIC: "Music or steady tonal sound covers too much of the clip.",
    ReasonCode.NO_INFANT_VOCALISATION: "Too little infant vocalisation was found.",
    ReasonCode.OTHER_VOICE: ("The pitched sound is another voice or an animal, not an infant "
                             "(its harmonics or low-band energy do not fit an infant's)."),
    ReasonCode.FACE_NOT_FOUND: "No face was found in enough frames.",
    ReasonCode.FACE_OUT_OF_FRAME: "The face is partly outside the frame.",
    ReasonCode.FACE_TURNED: "The head is turned too far from the camera.",
    ReasonCode.MOUTH_OCCLUDED: "Something covers the mouth (a hand, pacifier, bottle or toy).",
    ReasonCode.UPPER_FACE_OCCLUDED: "Something covers an eye or the forehead (a hand).",
    ReasonCode.STATIC_VIDEO: "The picture does not move: a still image made into a video.",
    ReasonCode.FACE_TOO_SMALL: "The face is too small in the frame.",
    ReasonCode.SEVERAL_FACES: "Several faces appear and the target face is ambiguous.",
    ReasonCode.NO_LONG_SEGMENT: "No continuous stretch of good frames is long enough.",
    ReasonCode.FIT_DIVERGED: "The face-model fit diverged.",
    ReasonCode.FIT_HIGH_RESIDUAL: "The face-model fit leaves too large a landmark error.",
    ReasonCode.MISSING_INPUT: "An input from an earlier stage is missing.",
    ReasonCode.RAW_MEDIA_PURGED: ("The raw download was deleted by the retention policy, so this "
                                  "stage cannot judge the clip again."),
    ReasonCode.INTERNAL_ERROR: "An unexpected error; its message is kept in the metrics.",
}


@dataclass(frozen=True)
class StageResult:
    """The outcome of one stage on one clip: the stage contract's return value.

    `metrics` holds the measurements behind the verdict (JSON-serialisable scalars, lists and
    dicts); `outputs` names the files the stage wrote, by role. A `deferred` result means the stage
    did not try the clip at all (e.g. a circuit breaker is open): it is not recorded, so the clip
    stays pending for the next run.
    """

    clip_id: str
    status: Status
    reason: ReasonCode | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    deferred: bool = False

    def __post_init__(self) -> None:
        if self.status is not Status.OK and self.reason is None:
            raise ValueError(f"a {self.status.value} result for {self.clip_id} needs a reason code")

    @classmethod
    def ok(cls, clip_id: str, metrics: dict[str, Any] | None = None,
           outputs: dict[str, Path] | None = None) -> StageResult:
        return cls(clip_id, Status.OK, None, metrics or {}, outputs or {})

    @classmethod
    def rejected(cls, clip_id: str, reason: ReasonCode, metrics: dict[str, Any] | None = None,
                 outputs: dict[str, Path] | None = None) -> StageResult:
        """`outputs`: what a rejected clip still leaves for review (the faces stage's QC)."""
        return cls(clip_id, Status.REJECTED, reason, metrics or {}, outputs or {})

    @classmethod
    def defer(cls, clip_id: str, reason: ReasonCode,
              metrics: dict[str, Any] | None = None) -> StageResult:
        """The clip was not tried this run (breaker open, run stopping); it stays pending."""
        return cls(clip_id, Status.RETRY, reason, metrics or {}, deferred=True)

    @classmethod
    def from_exception(cls, clip_id: str, error: BaseException,
                       status: Status = Status.FAILED,
                       reason: ReasonCode = ReasonCode.INTERNAL_ERROR) -> StageResult:
        """Turns an unexpected per-clip error into a value, keeping its repr for the ledger."""
        return cls(clip_id, status, reason, {"error": repr(error)})

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "metrics": dict(self.metrics),
            "outputs": {role: str(path) for role, path in self.outputs.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageResult:
        return cls(
            clip_id=data["clip_id"],
            status=Status(data["status"]),
            reason=ReasonCode(data["reason"]) if data.get("reason") else None,
            metrics=dict(data.get("metrics") or {}),
            outputs={role: Path(p) for role, p in (data.get("outputs") or {}).items()},
        )
