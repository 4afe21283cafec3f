"""A hostile-media corpus made with ffmpeg and Python (small, a few seconds each), run through the
download stage as `file://` clips; shared by the download stage's tests and the tests that take
what it passed through every later stage."""

from __future__ import annotations

import math
import random
import struct
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.config import load_config
from stages.contract import RunContext
from stages.download.stage import DownloadSettings, download_clip
from stages.download.stage import settings as download_settings
from stages.download.testing import HTML_PAGE, make_test_video
from stages.download.throttle import CircuitBreaker
from stages.paths import DataRoot

CASE_TIMEOUT_S = 30.0  # one case, generous for 2 busy cores; a hang fails instead of stalling CI
LAVFI_VIDEO = "testsrc=size=160x120:rate=30"
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def av(path: Path, *, video: str = LAVFI_VIDEO, audio: str = "sine=sample_rate=44100",
        seconds: float = 3.0, codecs: tuple[str, ...] = (*X264, "-c:a", "aac"),
        extra: tuple[str, ...] = ()) -> Path:
    """A lavfi test picture and tone, `seconds` long, in the codecs given."""
    _ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio, "-t", str(seconds),
            *codecs, *extra, str(path))
    return path


def _patch_durations(data: bytes, factor: int) -> bytes:
    """Multiplies the durations an mp4's headers declare (mvhd, tkhd, mdhd), not its samples."""
    out = bytearray(data)
    # offset of the 32-bit duration after the box type, for version-0 boxes
    for box, offset in ((b"mvhd", 20), (b"mdhd", 20), (b"tkhd", 24)):
        at = out.find(box)
        while at >= 0:
            assert out[at + 4] == 0, "version-1 boxes have 64-bit durations"
            field = at + offset
            (value,) = struct.unpack(">I", out[field:field + 4])
            out[field:field + 4] = struct.pack(">I", value * factor)
            at = out.find(box, at + 4)
    return bytes(out)


def _float_wav_with_nan(path: Path, seconds: float = 3.0, rate: int = 16_000) -> Path:
    """A float32 wav of a tone with NaN and ±inf samples sprinkled through it."""
    count = int(seconds * rate)
    samples = [0.3 * math.sin(2 * math.pi * 440 * k / rate) for k in range(count)]
    for k in range(0, count, 1000):
        samples[k] = math.nan
    samples[500], samples[1500] = math.inf, -math.inf
    data = struct.pack(f"<{count}f", *samples)
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # 3: WAVE_FORMAT_IEEE_FLOAT
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
                     + struct.pack("<I", len(fmt)) + fmt + b"data"
                     + struct.pack("<I", len(data)) + data)
    return path


@dataclass(frozen=True)
class Case:
    """One hostile kind: how to make it, which part to ask for, and the verdict it is owed."""

    name: str
    make: Callable[[Path], Path]  # given a folder, writes the file and returns its path
    reason: ReasonCode | None  # None: the clip must come out `ok`
    start_s: float = 0.5
    end_s: float = 2.5
    status: Status = Status.FAILED  # the verdict's status where `reason` is given


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return make


def _truncated(folder: Path) -> Path:
    data = make_test_video(folder / "whole.mp4", seconds=3.0, faststart=False).read_bytes()
    path = folder / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_faststart(folder: Path) -> Path:
    """Index first, samples cut: what is left plays; a segment past it is not there."""
    data = make_test_video(folder / "whole.mp4", seconds=3.0).read_bytes()
    path = folder / "truncated_faststart.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_moov(folder: Path) -> Path:
    data = bytearray(make_test_video(folder / "sound.mp4", seconds=3.0).read_bytes())
    at = data.find(b"moov")
    size = struct.unpack(">I", data[at - 4:at])[0]
    data[at + 4:at - 4 + size] = bytes(random.Random(1).randbytes(size - 8))  # the index, mangled
    path = folder / "corrupt_moov.mp4"
    path.write_bytes(bytes(data))
    return path


def _png(folder: Path) -> Path:
    path = folder / "image.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", "-c:v", "png",
            "-f", "image2", str(path))
    return path


def _audio_only(folder: Path) -> Path:
    path = folder / "audio_only.m4a"
    _ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=44100", "-t", "3", "-c:a", "aac", str(path))
    return path


def _video_only(folder: Path) -> Path:
    path = folder / "video_only.mp4"
    _ffmpeg("-f", "lavfi", "-i", LAVFI_VIDEO, "-t", "3", *X264, str(path))
    return path


def _unknown_fourcc(folder: Path) -> Path:
    data = bytearray(make_test_video(folder / "h264.mp4", seconds=3.0).read_bytes())
    at = data.find(b"avc1", data.find(b"stsd"))  # the sample entry, not the ftyp brand
    data[at:at + 4] = b"zzzz"
    path = folder / "unknown_fourcc.mp4"
    path.write_bytes(bytes(data))
    return path


def overstated(folder: Path) -> Path:
    data = make_test_video(folder / "short.mp4", seconds=3.0).read_bytes()
    path = folder / "overstated.mp4"
    path.write_bytes(_patch_durations(data, 10))  # declares 30 s, holds 3 s
    return path


def _nan_audio(folder: Path) -> Path:
    wav = _float_wav_with_nan(folder / "nan.wav")
    path = folder / "nan_audio.mov"
    _ffmpeg("-f", "lavfi", "-i", LAVFI_VIDEO, "-i", str(wav), "-t", "3", *X264, "-c:a", "copy",
            "-f", "mov", str(path))
    return path


def _named(name: str) -> Callable[[Path], Path]:
    return lambda folder: av(folder / name)


CASES = [
    Case("empty", _bytes("empty.mp4", b""), ReasonCode.CORRUPT_CONTAINER),
    Case("truncated", _truncated, ReasonCode.CORRUPT_CONTAINER),
    Case("truncated_faststart", _truncated_faststart, ReasonCode.DURATION_MISMATCH, 1.0, 3.0),
    Case("corrupt_moov", _corrupt_moov, ReasonCode.CORRUPT_CONTAINER),
    Case("random_bytes", _bytes("random.mp4", random.Random(0).randbytes(64 << 10)),
         ReasonCode.CORRUPT_CONTAINER),
    Case("html_page", _bytes("page.mp4", HTML_PAGE), ReasonCode.NOT_A_VIDEO),
    Case("text", _bytes("notes.mp4", b"just some notes\n" * 40), ReasonCode.NOT_A_VIDEO),
    Case("png_as_mp4", _png, ReasonCode.NOT_A_VIDEO),
    Case("audio_only", _audio_only, ReasonCode.NO_VIDEO_STREAM),
    Case("video_only", _video_only, ReasonCode.NO_AUDIO_STREAM),
    Case("unknown_fourcc", _unknown_fourcc, ReasonCode.UNSUPPORTED_CODEC),
    Case("one_pixel", lambda f: av(f / "tiny.mp4", video="testsrc=size=1x1:rate=30",
                                    codecs=("-c:v", "mpeg4", "-c:a", "aac")),
         ReasonCode.FRAME_TOO_SMALL),
    Case("overstated_duration", overstated, ReasonCode.DURATION_MISMATCH, 2.0, 5.0),
    Case("past_the_end", lambda f: av(f / "short.mp4"), ReasonCode.DURATION_MISMATCH, 2.0, 5.0),
    Case("nan_audio", _nan_audio, ReasonCode.CORRUPT_MEDIA),
    Case("vp9_webm", lambda f: av(f / "clip.webm", codecs=(
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus")),
        None),
    Case("mpeg2", lambda f: av(f / "clip.mpg", codecs=("-c:v", "mpeg2video", "-c:a", "mp2")),
         None),
    Case("variable_frame_rate", lambda f: av(
        f / "vfr.mp4", codecs=(*X264, "-c:a", "aac"),
        extra=("-vf", "select='lt(mod(n,10),6)'", "-fps_mode", "vfr")), None),
    Case("4k", lambda f: av(f / "uhd.mp4", video="testsrc=size=3840x2160:rate=30",
                             seconds=1.5), None, 0.2, 1.2),
    Case("odd_size", lambda f: av(f / "odd.mp4", video="testsrc=size=161x121:rate=30",
                                   codecs=("-c:v", "libx264", "-preset", "ultrafast",
                                           "-pix_fmt", "yuv444p", "-c:a", "aac")), None),
    Case("audio_8k", lambda f: av(f / "8k.mp4", audio="sine=sample_rate=8000"), None),
    Case("audio_96k", lambda f: av(f / "96k.mp4", audio="sine=sample_rate=96000"), None),
    Case("audio_7_1", lambda f: av(f / "surround.mp4", extra=(
        "-af", "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0")), None),
    Case("long_low_resolution", lambda f: av(f / "long.mp4", video="testsrc=size=96x96:rate=30",
                                              seconds=62.0), None, 0.5, 60.5),
    Case("over_max_duration", lambda f: av(f / "hour.mp4", video="testsrc=size=96x96:rate=30",
                                            seconds=3.0), ReasonCode.CLIP_TOO_LONG, 0.0, 3600.0,
         Status.REJECTED),
    Case("name_spaces_quotes", _named("my \"baby\" it's 'here'.mp4"), None),
    Case("name_unicode", _named("bébé 赤ちゃん 👶.mp4"), None),
    Case("name_leading_dash", _named("-i evil.mp4"), None),
    Case("name_url_chars", _named("a#b?c=d&e%20f.mp4"), None),
]


def settings(home: Path) -> DownloadSettings:
    cfg = load_config(home=home, network={"retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05,
                                          "timeout_s": 2.0, "requests_per_second": 1000})
    return download_settings(RunContext(cfg, "hostile"))


def timed(clip: Clip, cfg: DownloadSettings, root: DataRoot) -> tuple[StageResult, float]:
    started = time.monotonic()
    result = download_clip(clip, cfg, root, CircuitBreaker(root.run_dir(cfg.run_id)))
    return result, time.monotonic() - started


Verdicts = dict[str, tuple[Case, StageResult | BaseException, float]]


def download_corpus(folder: Path, root: DataRoot, cases: list[Case] = CASES) -> Verdicts:
    """The whole corpus made in `folder` and downloaded into `root`, two at a time (the CI
    machine has two cores): per kind, its case, its result (or what the stage raised) and time."""
    cfg = settings(root.home)

    def one(case: Case) -> tuple[StageResult, float]:
        made = folder / case.name
        made.mkdir()
        path = case.make(made)
        clip = Clip(id=f"h-{case.name}", url=path.as_uri(), start_s=case.start_s,
                    end_s=case.end_s, split_group=f"h-{case.name}")
        return timed(clip, cfg, root)

    out: Verdicts = {}
    pool = ThreadPoolExecutor(2)
    futures = {case.name: (case, pool.submit(one, case)) for case in cases}
    deadline = time.monotonic() + CASE_TIMEOUT_S * len(cases) / 2  # each case within its bound
    for name, (case, future) in futures.items():
        try:
            result, seconds = future.result(timeout=max(0.0, deadline - time.monotonic()))
            out[name] = (case, result, seconds)
        except Exception as e:  # a crash or a hang: reported per case, counted in the summary
            out[name] = (case, e, float("inf"))
    pool.shutdown(wait=False, cancel_futures=True)  # a hung case must not hang the test run
    return out


