"""What a clip page shows: the clip's verdicts, provenance, media and per-frame QC.

Files are found through the outputs the ledger recorded for each stage, never by joining a
folder and a clip id from a request, so no URL can name a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Attempt, Ledger, Review
from manifests.outcomes import Status
from review.queue import VERDICT_STAGES, Verdict

# Provenance fields shown on the page: untrusted text from the source, escaped by the templates.
PROVENANCE_FIELDS = ("title", "channel", "license", "upload_date", "webpage_url", "extractor")
# Per-frame rows of the QC timeline: (key in the payload, label, how the row is drawn).
TIMELINE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("present", "face found", "flag"),
    ("good", "good frame", "flag"),
    ("segment", "accepted segment", "flag"),
    ("coverage", "coverage", "unit"),
    ("yaw_deg", "yaw °", "angle"),
    ("pitch_deg", "pitch °", "angle"),
    ("roll_deg", "roll °", "angle"),
    ("occlusion", "mouth occlusion", "unit"),
    ("infant", "vocal activity", "unit"),
    ("loudness_db", "loudness dB", "db"),
)


@dataclass(frozen=True)
class ClipView:
    verdict: Verdict
    attempts: list[Attempt]  # the latest attempt of every stage that ran, in pipeline order
    reviews: list[Review]
    provenance: dict[str, Any]
    video: Path | None  # None: the raw video is gone (purged by retention, or never kept)
    purged_at: str | None  # when the retention policy deleted the raw media, if it did
    fps: float
    width: int
    height: int

    @property
    def clip_id(self) -> str:
        return self.verdict.clip.id


def latest_attempts(ledger: Ledger, clip_id: str) -> dict[str, Attempt]:
    return {stage: attempt for stage in VERDICT_STAGES
            if (attempt := ledger.latest(stage, [clip_id]).get(clip_id)) is not None}


def clip_view(ledger: Ledger, home: Path, verdict: Verdict) -> ClipView:
    latest = latest_attempts(ledger, verdict.clip.id)
    download = latest.get("download")
    provenance = dict((download.metrics.get("provenance") if download else None) or {})
    video = _recorded(download, "video", home)
    track = _track(latest, home)
    return ClipView(
        verdict=verdict,
        attempts=list(latest.values()),
        reviews=ledger.reviews(verdict.clip.id),
        provenance={k: provenance[k] for k in PROVENANCE_FIELDS if provenance.get(k)},
        video=video if video is not None and video.is_file() else None,
        purged_at=download.metrics.get("purged_at") if download else None,
        fps=track.fps if track else 30.0,
        width=track.width if track else 0,
        height=track.height if track else 0,
    )


def qc_payload(ledger: Ledger, home: Path, clip_id: str) -> dict[str, Any]:
    """The timeline's data, per video frame, as JSON-able lists (NaN becomes None)."""
    latest = latest_attempts(ledger, clip_id)
    rows: dict[str, Any] = {}
    payload: dict[str, Any] = {"fps": 30.0, "frames": 0, "rows": rows, "segments": [],
                               "reasons": [], "reason_names": [], "width": 0, "height": 0}
    track = _track(latest, home)
    if track is not None:
        segment = np.zeros(track.frames, bool)
        for start, end in track.segments.tolist():
            segment[start:end] = True
        rows.update({"present": track.present, "good": track.good, "segment": segment})
        rows.update({k: v for k, v in track.qc.items()
                     if k in {key for key, _, _ in TIMELINE_ROWS}})
        payload.update(fps=track.fps, frames=track.frames, width=track.width,
                       height=track.height, segments=track.segments.tolist(),
                       reason_names=list(track.reason_names),
                       reasons=_lists(track.qc.get("reasons", np.zeros(0))))
    envelope = _recorded(latest.get("audio"), "envelope", home)
    if envelope is not None and envelope.is_file():
        with np.load(envelope) as data:
            rows.update({k: data[k] for k in ("infant", "loudness_db") if k in data})
            payload["frames"] = payload["frames"] or len(data["infant"])
    payload["waveform"] = _waveform(latest, home, float(payload["fps"]))
    payload["rows"] = {key: _lists(values) for key, values in rows.items()}
    payload["row_info"] = [[key, label, kind] for key, label, kind in TIMELINE_ROWS
                           if key in rows]
    return payload


def landmarks_bytes(ledger: Ledger, home: Path, clip_id: str) -> bytes | None:
    """Every frame's 478 landmarks as float32 (x, y) pixels, NaN where no face: (T, 478, 2)."""
    track = _track(latest_attempts(ledger, clip_id), home)
    if track is None:
        return None
    return np.ascontiguousarray(track.landmarks[:, :, :2], dtype="<f4").tobytes()


def _track(latest: dict[str, Attempt], home: Path) -> FaceTrack | None:
    path = _recorded(latest.get("faces"), "track", home)
    return FaceTrack.load(path) if path is not None and path.is_file() else None


def _recorded(attempt: Attempt | None, role: str, home: Path) -> Path | None:
    """A stage output the ledger recorded, if the attempt judged the clip."""
    if attempt is None or attempt.status not in (Status.OK, Status.REJECTED):
        return None
    return attempt.output(role, home)


def _waveform(latest: dict[str, Attempt], home: Path, fps: float) -> dict[str, list[float]]:
    """Min and max of the audio per video frame: the raw audio if kept, else the clean one."""
    path = _recorded(latest.get("download"), "audio", home)
    if path is None or not path.is_file():
        path = _recorded(latest.get("audio"), "audio", home)
    if path is None or not path.is_file():
        return {"min": [], "max": []}
    lows, highs = [], []
    with sf.SoundFile(path) as audio:
        hop = max(1, round(audio.samplerate / fps))
        for block in audio.blocks(blocksize=hop, dtype="float32", always_2d=True):
            mono = block.mean(axis=1)
            lows.append(round(float(mono.min()), 4))
            highs.append(round(float(mono.max()), 4))
    return {"min": lows, "max": highs}


def _lists(values: np.ndarray) -> list[Any]:
    array = np.asarray(values)
    if array.dtype == bool:
        return array.astype(int).tolist()
    if np.issubdtype(array.dtype, np.integer):
        return array.tolist()
    rounded = np.round(array.astype(np.float64), 3)
    return [None if np.isnan(v) else float(v) for v in rounded]
