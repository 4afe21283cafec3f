"""One training sample's files: audio, latents, pose, landmarks, activity and metadata, as bytes.

Every encoder here is deterministic (numpy's .npy writer, sorted-key JSON, a WAV header Cradle
writes itself), so the same window of the same inputs always gives the same bytes.
"""

from __future__ import annotations

import io
import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from manifests.files import sha256_file
from manifests.formats.facefit import FaceFit
from manifests.formats.facetrack import FaceTrack
from manifests.formats.sample import (
    METADATA,
    PER_CLIP,
    PER_FRAME,
    SAMPLE_RATE,
    VAD_COLUMNS,
    VIDEO,
    array_member,
    audio_member,
)
from manifests.outcomes import RUN_METRICS
from stages.shards.config import ShardsConfig
from stages.shards.plan import SampleSpec

_SILENT_DB = -120.0  # loudness where the envelope ends before the track does


@dataclass(frozen=True)
class ClipInputs:
    """One clip's arrays, loaded once for all of its windows."""

    fit: FaceFit
    track: FaceTrack
    audio: np.ndarray  # (N,) int16 clean audio at 16 kHz
    envelope: np.ndarray  # (T, 4) float32, columns VAD_COLUMNS, padded to the track's length
    fit_sha256: str
    video: Path

    @classmethod
    def load(cls, spec: SampleSpec) -> ClipInputs:
        """Reads the files the ledger names for the clip of `spec`.

        Raises:
            ValueError: the clean audio is not 16 kHz, or the fit and track disagree in length.
        """
        paths = spec.inputs
        fit, track = FaceFit.load(paths["fit"]), FaceTrack.load(paths["track"])
        if fit.frames != track.frames:
            raise ValueError(f"{spec.clip.id}: fit has {fit.frames} frames, track {track.frames}")
        audio, rate = sf.read(paths["audio"], dtype="int16", always_2d=True)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{paths['audio']}: {rate} Hz, the shards expect {SAMPLE_RATE}")
        with np.load(paths["envelope"]) as data:
            columns = [_fit_length(data[name], track.frames, name) for name in VAD_COLUMNS]
        return cls(fit, track, audio[:, 0], np.stack(columns, axis=1).astype(np.float32),
                   sha256_file(paths["fit"]), paths["video"])


def sample_files(spec: SampleSpec, inputs: ClipInputs, cfg: ShardsConfig) -> dict[str, bytes]:
    """The files of one sample, by WebDataset field name (`<key>.<field>` in the tar)."""
    window = slice(spec.start, spec.end)
    fit, track = inputs.fit, inputs.track
    arrays = {
        "expression": fit.expression[window],  # (T, K)
        "identity": fit.identity,  # (I,)
        "age": fit.age,  # (A,)
        "rotation": fit.rotation[window],  # (T, 3, 3)
        "translation": fit.translation[window],  # (T, 2) px
        "scale": fit.scale[window],  # (T,)
        "landmarks": track.landmarks[window],  # (T, 478, 3) px
        "vad": inputs.envelope[window],  # (T, 4)
    }
    files = {audio_member(cfg.audio_format): _encode_audio(_audio_window(spec, inputs.audio),
                                                           cfg.audio_format)}
    files.update({array_member(name): _npy(arrays[name], dtype)
                  for name, dtype in {**PER_FRAME, **PER_CLIP}.items()})
    files[METADATA] = _json(metadata(spec, inputs, cfg))
    if cfg.include_video:
        files[VIDEO] = _cut_video(inputs.video, spec.start / spec.fps, spec.frames / spec.fps)
    return files


def metadata(spec: SampleSpec, inputs: ClipInputs, cfg: ShardsConfig) -> dict[str, Any]:
    """The sample's JSON: where it came from, how it was judged, and what produced its latents."""
    window = slice(spec.start, spec.end)
    track_qc = {name: _mean(values[window]) for name, values in sorted(inputs.track.qc.items())}
    clip = spec.clip
    return {
        "key": spec.key,
        "clip_id": clip.id,
        "source": clip.source,
        "labels": list(clip.labels),
        "split": spec.split,
        "split_group": clip.split_group,
        "fps": spec.fps,
        "sample_rate": SAMPLE_RATE,
        "start_frame": spec.start,
        "end_frame": spec.end,
        "frames": spec.frames,
        "start_s": round(spec.start / spec.fps, 6),
        "duration_s": round(spec.frames / spec.fps, 6),
        "vad_columns": list(VAD_COLUMNS),
        "qc": {
            "window": {"residual_px_mean": _mean(inputs.fit.residual_px[window]),
                       "infant_activity_mean": _mean(inputs.envelope[window, 0]),
                       **track_qc},
            **{stage: clip_measurements(info["metrics"]) for stage, info in spec.lineage.items()},
        },
        "face_model_id": inputs.fit.model_id,  # the model's content hash
        "fit_sha256": inputs.fit_sha256,
        "stages": {stage: {k: v for k, v in info.items() if k != "metrics"}
                   for stage, info in spec.lineage.items()},
        "sample_settings_hash": cfg.sample_hash(),
        "has_video": cfg.include_video,
    }


def clip_measurements(metrics: dict[str, Any]) -> dict[str, Any]:
    """A stage's metrics without those that describe the run rather than the clip.

    Timings and retry histories stay in the ledger; a sample holds only what the same clips give
    in every run, so equal fingerprints mean equal bytes.
    """
    return {key: value for key, value in metrics.items() if key not in RUN_METRICS}


def manifest_row(spec: SampleSpec, shard: str) -> dict[str, Any]:
    """One row of a shard's parquet manifest (columns in `stages.shards.write.MANIFEST_SCHEMA`)."""
    return {"sample_key": spec.key, "clip_id": spec.clip.id, "shard": shard, "split": spec.split,
            "split_group": spec.clip.split_group, "source": spec.clip.source,
            "labels": list(spec.clip.labels), "start_frame": spec.start, "end_frame": spec.end,
            "frames": spec.frames, "fps": spec.fps,
            "start_s": spec.start / spec.fps, "duration_s": spec.frames / spec.fps,
            "fingerprint": spec.fingerprint}


def _audio_window(spec: SampleSpec, audio: np.ndarray) -> np.ndarray:
    """Exactly the window's samples; zeros where the audio ends before the video does."""
    first = round(spec.start * SAMPLE_RATE / spec.fps)
    last = round(spec.end * SAMPLE_RATE / spec.fps)
    out = np.zeros(last - first, dtype=np.int16)
    part = audio[first:last]
    out[:len(part)] = part
    return out


def _encode_audio(pcm: np.ndarray, audio_format: str) -> bytes:
    buffer = io.BytesIO()
    if audio_format == "wav":
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(pcm.astype("<i2").tobytes())
    else:
        sf.write(buffer, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _cut_video(source: Path, start_s: float, duration_s: float) -> bytes:
    """The window's frames re-encoded single-threaded with bit-exact flags (reproducible bytes)."""
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{start_s:.6f}",
               "-i", str(source), "-t", f"{duration_s:.6f}", "-an", "-map_metadata", "-1",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
               "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
               "-movflags", "frag_keyframe+empty_moov", "-f", "mp4", "pipe:1"]
    try:
        return subprocess.run(command, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise ValueError(f"ffmpeg cannot cut {source}: {e.stderr.decode()[-300:]}") from e


def _fit_length(values: np.ndarray, frames: int, name: str) -> np.ndarray:
    # The envelope is computed from the audio's length, which may differ from the video's by a
    # frame; pad with silence so every array of a sample has the track's T.
    fill = _SILENT_DB if name == "loudness_db" else 0.0
    out = np.full(frames, fill, dtype=np.float32)
    out[:min(frames, len(values))] = values[:frames]
    return out


def _npy(array: np.ndarray, dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    return buffer.getvalue()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(_finite(data), sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode()


def _finite(value: Any) -> Any:
    """NaN and infinity become null: strict JSON readers (and DuckDB) refuse them."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _mean(values: np.ndarray) -> float | None:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return round(float(finite.mean()), 6) if finite.size else None
