"""Renders one demo clip: its audio mix, its animated face, the mp4 and its ground truth.

A clip depends only on (variant, seed), never on which process renders it or in what order, so
a corpus is the same whether it is generated serially or over a process pool.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from demo import audio as au
from demo import face as fc
from demo.variants import FACE_WIDTH, FPS, FRAME_SIZE, YAW_DEG, Variant
from manifests.files import atomic_path, atomic_write_json

log = logging.getLogger(__name__)

REFERENCE_RMS = 0.1  # -20 dBFS: the infant's level, or the reference where there is no infant
PEAK = 0.7  # the mix is scaled down to this peak when louder, so AAC never clips


def clip_rng(seed: int, name: str) -> np.random.Generator:
    """A generator that depends on the corpus seed and the clip's name only."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def synthesise_audio(v: Variant, rng: np.random.Generator) -> dict[str, Any]:
    """Builds the mix and its truth: the dry infant source, vocalisation intervals and gains."""
    n = int(v.duration_s * au.SAMPLE_RATE)
    spans: au.Intervals = []
    infant = np.zeros(n)
    if v.vocal == "cry":
        infant, spans = au.cry(v.duration_s, rng)
    elif v.vocal == "laughter":
        infant, spans = au.laughter(v.duration_s, rng)
    elif v.vocal == "babble":
        infant, spans = au.babble(v.duration_s, rng)
    infant = infant * 10 ** (_drift(rng, np.arange(n) / au.SAMPLE_RATE, v.dynamics_db) / 20)
    sources: dict[str, np.ndarray] = {}
    if spans:
        sources["infant"] = infant * REFERENCE_RMS / au.active_rms(infant, spans)
    makers = {"noise": au.stationary_noise, "speech": au.adult_speech, "music": au.music,
              "tv": au.tv_babble}
    for name, db in sorted(v.gains_db.items()):
        x = makers[name](v.duration_s, rng)
        sources[name] = x * REFERENCE_RMS * 10 ** (db / 20) / au.active_rms(x)
    mix = np.sum(list(sources.values()), axis=0)
    if v.rt60_s > 0:
        mix = au.reverb(mix, v.rt60_s, rng)
    master = min(1.0, PEAK / (np.abs(mix).max() + 1e-12))
    gains = {
        name: {"rms_dbfs": round(20 * np.log10(master * au.active_rms(
            x, spans if name == "infant" else None)), 2)}
        for name, x in sources.items()
    }
    dry = sources.get("infant", np.zeros(n)) * master
    return {"mix": mix * master, "infant": dry, "spans": spans, "sources": gains,
            "master_gain": master}


def _drift(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A sum of slow sinusoids peaking at `amplitude`: fidgety motion, or a voice's swell.

    Draws nothing when `amplitude` is 0, so giving one kind of clip a new kind of motion leaves
    every other clip's random stream, and so its bytes, as they were.
    """
    out = np.zeros_like(t)
    if not amplitude:
        return out
    for freq in rng.uniform(0.1, 0.6, 3):
        out += np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 3


def _ramp(t: np.ndarray, span: tuple[float, float] | None, rise_s: float) -> np.ndarray:
    """0 outside the span, 1 inside, with linear ramps of `rise_s` inside its edges."""
    if span is None:
        return np.zeros_like(t)
    a, b = span
    return np.clip(np.minimum((t - a) / rise_s, (b - t) / rise_s), 0, 1)


def plan_poses(v: Variant, jaw: np.ndarray, rng: np.random.Generator) -> list[fc.Pose]:
    """The pose of every frame: jaw from the audio, blinks, head motion and the variant's event."""
    t = np.arange(v.n_frames) / FPS
    blink = np.zeros(v.n_frames)
    at = rng.uniform(0.5, 2.0)
    while at < v.duration_s:
        blink = np.maximum(blink, np.clip(1 - np.abs(t - at) / 0.1, 0, 1))
        at += rng.uniform(2.0, 4.5)
    m = v.motion
    roll = _drift(rng, t, m.roll_deg)
    sx, sy = _drift(rng, t, m.shift_px[0]), _drift(rng, t, m.shift_px[1])
    scale = 1 + _drift(rng, t, m.scale)
    yaw, pitch = _drift(rng, t, m.yaw_deg), _drift(rng, t, m.pitch_deg)
    event = _ramp(t, v.event_span_s, 0.15 if v.event == "out_of_frame" else 0.5)
    if v.event == "turned":
        yaw = yaw + YAW_DEG * event
    inside = event > 0 if v.event_span_s is None else (t >= v.event_span_s[0]) & (
        t < v.event_span_s[1])
    pan = FRAME_SIZE[0] / 2 + FACE_WIDTH * 0.9
    poses = []
    for i in range(v.n_frames):
        poses.append(fc.Pose(
            jaw=float(jaw[i]), blink=float(blink[i]),
            yaw_deg=float(yaw[i]), pitch_deg=float(pitch[i]), roll_deg=float(roll[i]),
            scale=float(scale[i]), shift=(float(sx[i]), float(sy[i])),
            camera=(float(pan * event[i]), 0.0) if v.event == "out_of_frame" else (0.0, 0.0),
            occluder=v.event if v.event in ("hand", "pacifier") and inside[i] else None,
        ))
    return poses


def build_scenes(v: Variant, landmarks: dict[str, np.ndarray]) -> list[fc.Scene]:
    """One scene per face (two side by side for "two_faces"), or one without a face."""
    w, h = FRAME_SIZE
    margin = (int(w / 2 + FACE_WIDTH * 1.4), 48) if v.event == "out_of_frame" else (64, 48)
    if v.photo is None:
        return [fc.make_scene(fc.load_photo("coffee"), None, FRAME_SIZE, 0, margin)]
    if v.second_photo is None:
        return [fc.make_scene(fc.load_photo(v.photo), landmarks[v.photo], FRAME_SIZE,
                              FACE_WIDTH * v.face_scale, margin,
                              fc.MOUTH_DARK if v.dark_mouth else fc.MOUTH_RED)]
    half = (w // 2, h)
    return [fc.make_scene(fc.load_photo(p), landmarks[p], half, FACE_WIDTH * 0.8, margin)
            for p in (v.photo, v.second_photo)]


def render_clip(v: Variant, seed: int, out_dir: Path,
                landmarks: dict[str, np.ndarray]) -> list[Path]:
    """Writes `<name>.mp4`, `<name>.infant.wav` and `<name>.json`; returns their paths.

    Args:
        v: the variant to render (not a derived, corrupt one).
        seed: the corpus seed.
        out_dir: the corpus folder.
        landmarks: each photo's FaceMesh landmarks, detected once by the caller.
    """
    rng = clip_rng(seed, v.name)
    sound = synthesise_audio(v, rng)
    env = au.frame_envelope(sound["infant"], v.n_frames)
    if sound["spans"]:
        jaw = np.clip(env / (0.8 * env.max()), 0, 1)
        jaw = np.convolve(jaw, [0.25, 0.5, 0.25], mode="same")
    else:  # no vocalisation: the mouth stays nearly closed and moves a little
        jaw = np.clip(0.04 + _drift(rng, np.arange(v.n_frames) / FPS, 0.06), 0, 1)
    poses = plan_poses(v, jaw, rng)
    scenes = build_scenes(v, landmarks)
    frames_truth: dict[str, list] = {k: [] for k in (
        "face_in_frame", "yaw_deg", "mouth_occluded", "mouth_open", "jaw", "blink", "face_box",
        "mouth_xy")}
    mp4 = out_dir / f"{v.name}.mp4"
    with tempfile.TemporaryDirectory(prefix="cradle-demo-") as tmp:
        wav = Path(tmp) / "mix.wav"
        sf.write(wav, sound["mix"].astype(np.float32), au.SAMPLE_RATE, subtype="FLOAT")
        with atomic_path(mp4) as tmp_mp4:
            # stderr goes to a file: a full pipe would stall ffmpeg while we feed its stdin.
            err_path = Path(tmp) / "ffmpeg.log"
            with open(err_path, "wb") as err_file, subprocess.Popen(
                _ffmpeg_cmd(wav, tmp_mp4), stdin=subprocess.PIPE, stderr=err_file
            ) as proc:
                stdin: IO[bytes] = proc.stdin  # type: ignore[assignment]
                for pose in poses:
                    parts = [fc.render(scene, pose) for scene in scenes]
                    stdin.write(np.ascontiguousarray(np.hstack([p[0] for p in parts])).tobytes())
                    _record(frames_truth, parts[0][1], pose)
                stdin.close()
            err = err_path.read_text(errors="replace")
            if proc.returncode != 0:
                raise RuntimeError(f"ffmpeg failed to encode {v.name}: {err[-500:]}")
    infant_wav = out_dir / f"{v.name}.infant.wav"
    with atomic_path(infant_wav) as tmp_wav:
        # 24-bit PCM: float WAVs carry a PEAK chunk with a timestamp, which breaks byte identity.
        sf.write(tmp_wav, sound["infant"], au.SAMPLE_RATE, subtype="PCM_24", format="WAV")
    truth = clip_truth(v, seed, sound, frames_truth, n_faces=0 if v.photo is None else
                       1 + (v.second_photo is not None))
    json_path = atomic_write_json(out_dir / f"{v.name}.json", truth)
    log.info("rendered demo clip %s (%d frames)", v.name, v.n_frames)
    return [mp4, infant_wav, json_path]


def _record(truth: dict[str, list], posed: np.ndarray | None, pose: fc.Pose) -> None:
    truth["yaw_deg"].append(round(pose.yaw_deg, 2))
    truth["mouth_occluded"].append(pose.occluder is not None)
    truth["jaw"].append(round(pose.jaw, 4))
    truth["blink"].append(round(pose.blink, 3))
    if posed is None:
        for key in ("face_in_frame", "mouth_open", "face_box", "mouth_xy"):
            truth[key].append(0.0 if key in ("face_in_frame", "mouth_open") else None)
        return
    truth["face_in_frame"].append(round(fc.face_fraction_inside(posed, FRAME_SIZE), 4))
    face_h = np.linalg.norm(posed[fc.CHIN, :2] - posed[fc.FOREHEAD, :2])
    truth["mouth_open"].append(round(float(np.linalg.norm(posed[13, :2] - posed[14, :2])
                                           / face_h), 4))
    lo, hi = posed[:, :2].min(0), posed[:, :2].max(0)
    truth["face_box"].append([round(float(c), 1) for c in (*lo, *hi)])
    mouth = posed[list(fc.INNER_LIPS), :2].mean(0)
    truth["mouth_xy"].append([round(float(c), 1) for c in mouth])


def clip_truth(v: Variant, seed: int, sound: dict[str, Any], frames: dict[str, list],
               n_faces: int) -> dict[str, Any]:
    """The ground-truth record of one clip (JSON-ready)."""
    return {
        "name": v.name,
        "seed": seed,
        "expected": v.expected(),
        "duration_s": v.duration_s,
        "video": {"fps": FPS, "width": FRAME_SIZE[0], "height": FRAME_SIZE[1],
                  "n_frames": v.n_frames, "codec": "h264", "pix_fmt": "yuv420p",
                  "photo": v.photo, "second_photo": v.second_photo, "n_faces": n_faces,
                  "event": v.event, "event_span_s": v.event_span_s},
        "audio": {"sample_rate": au.SAMPLE_RATE, "channels": 1, "codec": "aac",
                  "n_samples": int(v.duration_s * au.SAMPLE_RATE), "vocalisation": v.vocal,
                  "vocal_intervals": [list(map(int, s)) for s in sound["spans"]],
                  "sources": sound["sources"], "gains_db": v.gains_db,
                  "master_gain": round(sound["master_gain"], 6), "reverb_rt60_s": v.rt60_s,
                  "infant_wav": f"{v.name}.infant.wav",
                  "infant_wav_note": "the dry infant source exactly as mixed, before reverb"},
        "frames": frames,
        "labels": v.labels,
    }


def _ffmpeg_cmd(wav: Path, out: Path) -> list[str]:
    w, h = FRAME_SIZE
    return [
        "ffmpeg", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
        "-framerate", str(FPS), "-i", "pipe:0", "-i", str(wav), "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(FPS),
        "-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "aac", "-b:a", "48k",
        "-ar", str(au.SAMPLE_RATE), "-ac", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-flags:a", "+bitexact", "-movflags", "+faststart", str(out),
    ]
