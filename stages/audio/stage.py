"""The audio stage: keep clean infant vocalisation; reject the rest with a reason one can check.

Per clip: read `raw/<clip>.wav`, loudness-normalise, find who sounds in each 10 ms frame
(pitch, harmonic support, music by held notes and by YAMNet's AudioSet tags, and Silero VAD or
pyannote for speech; the metrics list the detectors that ran), keep the infant's voice
(pyannote separation when configured, else suppression of the detected speech and music only
where detected, background subtraction and noisereduce's stationary gate, all as one gain on
one shared transform), score, gate. Every judged clip, accepted or rejected, gets
`audio/<clip>.wav` (clean, 16 kHz) and `audio/<clip>.npz` (per video frame: infant activity,
adult speech, music, loudness): the review UI draws a rejected clip's envelope, and a clip whose
rejection a reviewer overrides goes on downstream with its clean audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from manifests.files import atomic_path
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.audio.activity import FrameActivity, frame_activity, frame_level_db
from stages.audio.config import AudioConfig, AudioMachine
from stages.audio.hum import remove_hum
from stages.audio.pitch import FRAME_RATE
from stages.audio.pyannote_models import PyannoteModels
from stages.audio.scores import audio_scores, gate
from stages.audio.separation import clean as clean_with_detectors
from stages.audio.separation import denoise
from stages.audio.spectrum import analyse
from stages.audio.tagger import tag_frames
from stages.audio.wav import SAMPLE_RATE, DecodeError, loudness_normalise, read_wav, write_wav
from stages.contract import StageSpec, WithMachine, guarded, missing_input
from stages.paths import DataRoot

__all__ = ["STAGE", "AudioConfig", "AudioSettings", "clean_clip", "run"]

log = logging.getLogger(__name__)

VIDEO_FPS = 30.0  # the download stage's constant frame rate: the envelope's time base


AudioSettings = WithMachine[AudioConfig, AudioMachine]  # the stage's `cfg`


def run(clips: Sequence[Clip], cfg: AudioSettings, root: DataRoot) -> list[StageResult]:
    """The stage contract: one result per clip; pyannote models load once for the batch."""
    models = PyannoteModels.load(cfg.section, cfg.machine.torch_threads)
    return [guarded(STAGE.name, clip.id, partial(_one_clip, clip, cfg.section, root, models))
            for clip in clips]


def _one_clip(clip: Clip, cfg: AudioConfig, root: DataRoot,
              models: PyannoteModels | None) -> StageResult:
    source = root.clip(clip.id).raw_audio
    if not source.is_file():
        return missing_input(clip.id, "raw audio", source, root)
    try:
        raw = read_wav(source)
    except DecodeError as e:
        return StageResult(clip.id, Status.FAILED, ReasonCode.CORRUPT_MEDIA, {"error": repr(e)})
    started = time.perf_counter()
    clean, activity, metrics = clean_clip(raw, cfg, models)
    metrics["seconds"] = round(time.perf_counter() - started, 3)
    files = root.clip(clip.id)
    wav = write_wav(files.clean_audio, clean)
    envelope = files.envelope
    with atomic_path(envelope) as tmp:
        np.savez_compressed(tmp, **video_frame_envelope(clean, activity))
    outputs = {"audio": wav, "envelope": envelope}
    failed = gate(metrics, cfg)
    if failed is not None:
        reason, score = failed
        return StageResult.rejected(clip.id, reason,
                                    {**metrics, "failed_score": score, "value": metrics[score]},
                                    outputs=outputs)
    return StageResult.ok(clip.id, metrics, outputs)


def clean_clip(raw: np.ndarray, cfg: AudioConfig, models: PyannoteModels | None = None,
               sr: int = SAMPLE_RATE) -> tuple[np.ndarray, FrameActivity, dict[str, Any]]:
    """Normalises, analyses, cleans one clip, and scores it.

    Args:
        raw: the input waveform, mono, at `sr`.
        cfg: the stage configuration.
        models: pyannote models, or None for the weight-free path.
        sr: the sample rate.

    Returns:
        The clean waveform, the per-frame activity and the metrics (scores, path, loudness,
        the detectors that ran and what the cleaning did).
    """
    # A recorder's DC offset is no sound: left in, it lifts every frame's level (silence, the
    # noise floor), and an offset of a tenth of the peak made 10 of 47 real cries `low_snr`.
    # Full-scale samples (clipping) are counted on the input as it came.
    centred = raw - float(np.mean(raw)) if len(raw) else raw
    dehummed, hum_hz = remove_hum(centred, sr) if cfg.remove_mains_hum else (centred, None)
    x, loudness, gain_db = loudness_normalise(dehummed, sr, cfg.target_lufs, cfg.max_gain_db)
    raw_level = frame_level_db(dehummed, sr)
    n_frames = len(raw_level)
    speech, overlap = models.speech(x, sr, n_frames) if models else (None, None)
    spec = analyse(x, sr)
    # The tagger hears the input at its own level and with its own hum, as AudioSet's clips were
    # heard: a quiet phone recording brought up 22 dB had its rattle and room read as music
    # (donateacry F15D825B), and notches it never heard took music under a real cry from 2 of 5
    # patches to 1 (an old Brahms recording's 100 Hz hum).
    tags = tag_frames(centred, sr, n_frames) if cfg.music_tagger == "yamnet" else None
    activity = frame_activity(x, sr, raw_level, cfg, spec, speech, overlap, tags=tags)
    sources = models.separate(x) if models else None
    done: dict[str, float | None]
    if sources is not None:
        voice = _infant_source(sources, sr, raw_level, cfg)
        clean, done = denoise(voice, sr, activity, cfg), {}
    else:
        clean, done = clean_with_detectors(x, sr, spec, activity, cfg)
    metrics: dict[str, Any] = {
        "path": "pyannote" if models else "weight_free",
        "separation": "pyannote" if sources is not None else "detected_interferers",
        "detectors": list(activity.detectors),
        "loudness_lufs": None if loudness is None else round(loudness, 2),
        "gain_db": round(gain_db, 2),
        "duration_s": round(len(raw) / sr, 3),
        "mains_hum_hz": hum_hz,
        **audio_scores(raw, x, clean, sr, activity),
        **activity.descriptors,
        **done,
    }
    return clean, activity, metrics


def _infant_source(sources: np.ndarray, sr: int, raw_level: np.ndarray,
                   cfg: AudioConfig) -> np.ndarray:
    """The separated source with the most infant frames."""
    counts = [frame_activity(s, sr, raw_level, cfg, analyse(s, sr),
                             speech=np.zeros(len(raw_level))).infant.sum() for s in sources]
    return sources[int(np.argmax(counts))].astype(np.float64)


def video_frame_envelope(clean: np.ndarray, activity: FrameActivity,
                         sr: int = SAMPLE_RATE) -> dict[str, Any]:
    """Per video frame (30 fps): the fraction of it with infant vocalisation, adult speech and
    music, and the clean signal's loudness (RMS in dBFS), for later stages and the review UI."""
    n_video = round(len(clean) / sr * VIDEO_FPS)
    edges = np.round(np.arange(n_video + 1) * FRAME_RATE / VIDEO_FPS).astype(int)
    edges = np.minimum(edges, activity.n_frames)

    def per_video_frame(mask: np.ndarray) -> np.ndarray:
        sums = np.concatenate([[0], np.cumsum(mask.astype(float))])
        return ((sums[edges[1:]] - sums[edges[:-1]]) / np.maximum(np.diff(edges), 1)).astype(
            np.float32)

    hop = sr / VIDEO_FPS
    loudness = np.array([
        10 * np.log10(np.mean(clean[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12)
        for i in range(n_video)
    ], dtype=np.float32)
    return {
        "fps": np.float32(VIDEO_FPS),
        "infant": per_video_frame(activity.infant),
        "adult_speech": per_video_frame(activity.adult),
        "music": per_video_frame(activity.music | activity.tagged_music),
        "loudness_db": loudness,
    }


# Version 13: YAMNet's graph runs in float (its int8 kernels' answer hung on the CPU), and speech
# counts only above its 0.5 output step (a re-encoded laugh sat on it). Version 12: speech Silero
# and YAMNet both hear beside the infant's bouts is attenuated, and Silero is asked inside the
# bouts too. Version 11: babbling YAMNet hears is never speaking.
# Version 10: a voice in the infant's range that Silero and YAMNet both hear as speech is adult
# speech (`infant_speaking_ratio`). Version 9: Silero hears the whole clip (its sequence export),
# and speech in more than 30 % of the infant's pauses is adult speech under the infant too; music
# tagged under the clip but never heard alone is `music`. Version 8 notched mains hum out first.
STAGE = StageSpec("audio", "13", run, section="audio", machine="audio")
