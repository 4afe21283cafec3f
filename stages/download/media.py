"""ffmpeg and ffprobe helpers: exact trims to constant frame rate video and 16 kHz mono audio.

One ffmpeg process writes both outputs from one decode, because process start-up and decoding
dominate the cost of a short clip.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from manifests.outcomes import ReasonCode, Status
from stages.download.faults import DownloadFault


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file: enough to verify a normalised clip."""

    duration_s: float  # the container's
    video_duration_s: float | None
    fps: Fraction | None  # the video stream's nominal rate
    avg_fps: Fraction | None  # frames / duration: equals `fps` for constant frame rate
    frames: int | None
    width: int | None
    height: int | None
    sample_rate: int | None
    channels: int | None
    audio_codec: str | None
    audio_duration_s: float | None

    @property
    def constant_rate(self) -> bool:
        return self.fps is not None and self.fps == self.avg_fps


def probe(source: str | Path, timeout_s: float | None = None) -> MediaInfo:
    """Reads streams and durations; counts frames so constant frame rate can be checked.

    Raises:
        DownloadFault: ffprobe cannot read the file (`corrupt_media`).
    """
    args: dict[str, Any] = {"count_packets": None, "hide_banner": None}  # errors, not versions
    if timeout_s is not None:
        args["rw_timeout"] = int(timeout_s * 1e6)
    try:
        data = ffmpeg.probe(str(source), **args)
    except ffmpeg.Error as e:
        raise DownloadFault(f"ffprobe cannot read {Path(str(source)).name}: "
                            f"{_tail(e.stderr)}", Status.FAILED, ReasonCode.CORRUPT_MEDIA) from e
    streams = data.get("streams", [])
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "audio"), {})
    return MediaInfo(
        duration_s=float(data.get("format", {}).get("duration") or 0.0),
        video_duration_s=_float(video.get("duration")),
        fps=_rate(video.get("r_frame_rate")),
        avg_fps=_rate(video.get("avg_frame_rate")),
        frames=int(video["nb_read_packets"]) if video.get("nb_read_packets") else None,
        width=video.get("width"),
        height=video.get("height"),
        sample_rate=int(audio["sample_rate"]) if audio.get("sample_rate") else None,
        channels=audio.get("channels"),
        audio_codec=audio.get("codec_name"),
        audio_duration_s=_float(audio.get("duration")),
    )


def probe_wav(path: Path) -> MediaInfo:
    """Reads a PCM wav's header in-process: one ffprobe process less per clip.

    Raises:
        DownloadFault: not a readable PCM wav (`corrupt_media`).
    """
    try:
        with wave.open(str(path), "rb") as handle:
            rate, channels, frames = (handle.getframerate(), handle.getnchannels(),
                                      handle.getnframes())
    except (wave.Error, EOFError) as e:
        raise DownloadFault(f"{path.name} is not a PCM wav: {e}", Status.FAILED,
                            ReasonCode.CORRUPT_MEDIA) from e
    duration = frames / rate if rate else 0.0
    return MediaInfo(duration_s=duration, video_duration_s=None, fps=None, avg_fps=None,
                     frames=None, width=None, height=None, sample_rate=rate, channels=channels,
                     audio_codec="pcm_s16le", audio_duration_s=duration)


def normalise(source: Path, offset_s: float, duration_s: float, fps: float, sample_rate: int,
              video_out: Path, audio_out: Path) -> None:
    """Cuts `duration_s` from `offset_s` of `source` exactly (decoded, not at keyframes).

    Writes H.264 + AAC mp4 at a constant `fps` and 16-bit mono PCM wav at `sample_rate`.

    Raises:
        DownloadFault: ffmpeg cannot decode the source (`corrupt_media`).
    """
    stream = ffmpeg.input(str(source), ss=f"{offset_s:.6f}", t=f"{duration_s:.6f}")
    video = stream.video.filter("fps", fps=fps)
    has_audio = stream.audio
    mp4 = ffmpeg.output(
        video, has_audio, str(video_out), vcodec="libx264", preset="veryfast", crf=18,
        pix_fmt="yuv420p", acodec="aac", movflags="+faststart", fps_mode="cfr",
        r=fps, t=f"{duration_s:.6f}", f="mp4",
    )
    wav = ffmpeg.output(has_audio, str(audio_out), acodec="pcm_s16le", ac=1, ar=sample_rate,
                        t=f"{duration_s:.6f}", f="wav")
    try:
        ffmpeg.merge_outputs(mp4, wav).global_args("-nostdin", "-threads", "1").run(
            quiet=True, overwrite_output=True
        )
    except ffmpeg.Error as e:
        reason = ReasonCode.CORRUPT_MEDIA
        stderr = _tail(e.stderr)
        if "matches no streams" in stderr:
            reason = (ReasonCode.NO_AUDIO_STREAM if ":a" in stderr or "0:1" in stderr
                      else ReasonCode.NO_VIDEO_STREAM)
        raise DownloadFault(f"ffmpeg cannot normalise {source.name}: {stderr}",
                            Status.FAILED, reason) from e



def _tail(stderr: bytes | None, lines: int = 3) -> str:
    return " | ".join((stderr or b"").decode(errors="replace").strip().splitlines()[-lines:])


def _rate(text: str | None) -> Fraction | None:
    if not text or text.endswith("/0"):
        return None
    return Fraction(text)


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "N/A") else None
