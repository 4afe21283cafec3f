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

# x264's output depends on its thread count, which defaults to the cores ffmpeg sees: a fixed
# count makes a clip's bytes (and the `video_sha256` its shards record) the same on any machine
# and on a Dask worker pinned to one core.
ENCODER_THREADS = 2


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file: enough to judge a source and verify a normalised clip."""

    duration_s: float  # the container's, as its header declares it
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
    format_name: str | None = None
    video_codec: str | None = None
    # Streams of each kind, even in a codec ffmpeg does not know (and so has no name for).
    has_video: bool = False
    has_audio: bool = False

    @property
    def constant_rate(self) -> bool:
        return self.fps is not None and self.fps == self.avg_fps

    def describe(self) -> str:
        """The measurements behind a verdict, for the ledger's `error` metric."""
        size = f"{self.width}x{self.height}" if self.width and self.height else "no frame size"
        return (f"format {self.format_name}, video {self.video_codec or 'none'} {size}, "
                f"{self.frames} frames, audio {self.audio_codec or 'none'}, "
                f"declares {self.duration_s:.3f} s")


def probe(source: str | Path, timeout_s: float | None = None) -> MediaInfo:
    """Reads streams and durations; counts frames so constant frame rate can be checked.

    Raises:
        DownloadFault: ffprobe cannot read the file (`corrupt_container`, or `not_a_video`
            for text such as an HTML page).
    """
    args: dict[str, Any] = {"count_packets": None, "hide_banner": None}  # errors, not versions
    if timeout_s is not None:
        args["rw_timeout"] = int(timeout_s * 1e6)
    try:
        data = ffmpeg.probe(str(source), **args)
    except ffmpeg.Error as e:
        raise _unreadable(source, e.stderr) from e
    streams = data.get("streams", [])
    # A cover picture (an m4a's artwork) is a "video" stream that is no video.
    video: dict[str, Any] = next((s for s in streams if s.get("codec_type") == "video"
                                  and not s.get("disposition", {}).get("attached_pic")), {})
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
        format_name=data.get("format", {}).get("format_name"),
        video_codec=video.get("codec_name"),
        has_video=bool(video),
        has_audio=bool(audio),
    )


def judge_source(info: MediaInfo, min_side_px: int) -> None:
    """Names why a source cannot become a clip, from ffprobe alone, before anything is decoded.

    ffmpeg's own failure would come later and say less (a 1x1 frame fails in the H.264 encoder,
    an image as a missing audio stream), so each cause is told apart here, most basic first.

    Raises:
        DownloadFault: `not_a_video`, `no_video_stream`, `unsupported_codec`,
            `corrupt_container`, `frame_too_small` or `no_audio_stream`; all permanent.
    """
    measured = info.describe()
    format_name = info.format_name or ""
    if format_name in _IMAGE_FORMATS or format_name.endswith("_pipe"):
        _fail(ReasonCode.NOT_A_VIDEO, f"an image or text ({format_name}), not a video", measured)
    if not info.has_video:
        reason = ReasonCode.NO_VIDEO_STREAM if info.has_audio else ReasonCode.CORRUPT_CONTAINER
        _fail(reason, "no video stream" if info.has_audio else "no streams", measured)
    if not info.video_codec or (info.has_audio and not info.audio_codec):
        _fail(ReasonCode.UNSUPPORTED_CODEC, "a stream's codec is unknown to ffmpeg", measured)
    if min(info.width or 0, info.height or 0) < min_side_px:
        _fail(ReasonCode.FRAME_TOO_SMALL, f"the frame's short side is under {min_side_px} px",
              measured)
    if not info.has_audio:
        _fail(ReasonCode.NO_AUDIO_STREAM, "no audio stream", measured)


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
              max_height: int, video_out: Path, audio_out: Path) -> None:
    """Cuts `duration_s` from `offset_s` of `source` exactly (decoded, not at keyframes).

    Writes H.264 + AAC mp4 at a constant `fps`, at most `max_height` tall (yt-dlp's format
    choice caps only what it downloads; a local file or a direct link may be 4K), and 16-bit
    mono PCM wav at `sample_rate`.

    Raises:
        DownloadFault: ffmpeg cannot decode the source (`corrupt_media`, `unsupported_codec`).
    """
    stream = ffmpeg.input(str(source), ss=f"{offset_s:.6f}", t=f"{duration_s:.6f}")
    # min(ih, max_height) rounded down to even, as yuv420p needs: never scaled up. Written as
    # (a + b - |a - b|) / 2 because ffmpeg-python does not escape the comma of min(a, b).
    height = f"trunc((ih+{max_height}-abs(ih-{max_height}))/4)*2"
    video = stream.video.filter("fps", fps=fps).filter("scale", w=-2, h=height)
    has_audio = stream.audio
    mp4 = ffmpeg.output(
        video, has_audio, str(video_out), vcodec="libx264", preset="veryfast", crf=18,
        pix_fmt="yuv420p", acodec="aac", movflags="+faststart", fps_mode="cfr",
        r=fps, t=f"{duration_s:.6f}", f="mp4", threads=ENCODER_THREADS,
    )
    wav = ffmpeg.output(has_audio, str(audio_out), acodec="pcm_s16le", ac=1, ar=sample_rate,
                        t=f"{duration_s:.6f}", f="wav")
    try:
        ffmpeg.merge_outputs(mp4, wav).global_args(
            "-nostdin", "-hide_banner", "-loglevel", "error").run(
            quiet=True, overwrite_output=True
        )
    except ffmpeg.Error as e:
        stderr = (e.stderr or b"").decode(errors="replace")
        reason = ReasonCode.CORRUPT_MEDIA
        if "Decoder (codec" in stderr or "Unsupported codec" in stderr:
            reason = ReasonCode.UNSUPPORTED_CODEC
        elif "matches no streams" in stderr:
            reason = (ReasonCode.NO_AUDIO_STREAM if ":a" in stderr or "0:1" in stderr
                      else ReasonCode.NO_VIDEO_STREAM)
        raise DownloadFault(f"ffmpeg cannot normalise {source.name}: {_first_error(stderr)}",
                            Status.FAILED, reason) from e


# Demuxers of single pictures or text: ffprobe reads them, but they hold no video to trim.
_IMAGE_FORMATS = frozenset({"image2", "tty", "gif", "apng", "webp_pipe"})
_SNIFF_BYTES = 512


def _unreadable(source: str | Path, stderr: bytes | None) -> DownloadFault:
    """Why ffprobe cannot read a file: empty, text (an HTML error page), or a broken container."""
    first = _first_error((stderr or b"").decode(errors="replace"))
    path = Path(str(source))
    head = _head(path)
    if head == b"":
        reason, why = ReasonCode.CORRUPT_CONTAINER, "the file is empty (0 bytes)"
    elif head is not None and _is_text(head):
        reason, why = ReasonCode.NOT_A_VIDEO, f"text, not media: begins {head[:40]!r}"
    else:
        reason, why = ReasonCode.CORRUPT_CONTAINER, "the container cannot be parsed"
    return DownloadFault(f"ffprobe cannot read {path.name}: {why}: {first}", Status.FAILED, reason)


def _head(path: Path) -> bytes | None:
    """The file's first bytes; None for a URL, which is not sniffed (another request)."""
    try:
        with path.open("rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except OSError:
        return None


def _is_text(head: bytes) -> bool:
    printable = sum(32 <= b < 127 or b in b"\t\n\r" for b in head)
    return printable >= 0.95 * len(head)


def _fail(reason: ReasonCode, why: str, measured: str) -> None:
    raise DownloadFault(f"{why}: {measured}", Status.FAILED, reason)


def _first_error(stderr: str) -> str:
    """ffmpeg's first error line names the cause; the lines after it are consequences."""
    lines = [line.strip() for line in stderr.strip().splitlines()
             if line.strip() and "misdetection possible" not in line]  # a guess, not a cause
    return lines[0][:300] if lines else "no message"


def _rate(text: str | None) -> Fraction | None:
    if not text or text.endswith("/0"):
        return None
    return Fraction(text)


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "N/A") else None
