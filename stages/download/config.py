"""The download stage's settings: what it writes (hashed) and how it uses the network (not)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from stages.section import ConfigSection


class DownloadConfig(ConfigSection):
    """What the download stage writes: changing any of these re-downloads every clip."""

    # 30 fps is what the face tracker and the fitting stage are tuned for; constant, so frame
    # index and time map one to one.
    fps: float = Field(default=30.0, gt=0)
    # 16 kHz mono is what the speech/vocalisation models (pyannote, wav2vec2-style) take.
    sample_rate: int = Field(default=16_000, ge=8_000)
    # 720p is ample for landmarks on a face and caps bandwidth and disk.
    max_height: int = Field(default=720, ge=144)
    # A frame whose short side is under this many pixels cannot hold a face the landmark models
    # can use (their crops are 128-256 px): such a source fails as `frame_too_small` at once
    # instead of being upscaled into a blur.
    min_side_px: int = Field(default=64, ge=1)
    # A segment longer than this is rejected (`clip_too_long`) before anything is fetched. The
    # audio stage holds a clip's spectrogram whole (about 5 MB per second of audio): at 2 minutes
    # every stage stays under 1.5 GB (bench/memory.py). AudioSet segments are 10 s.
    max_duration_s: float = Field(default=120.0, gt=0)
    # Fetch this much before and after the segment so the exact trim never starts mid-GOP
    # without the frames it needs; small, so a 10 s segment is not a whole video.
    pad_s: float = Field(default=2.0, ge=0)


class NetworkConfig(ConfigSection):
    """How the download stage talks to the network: changing these never re-downloads a clip.

    Kept apart from `DownloadConfig` so that tuning the rate limit or adding a proxy does not
    change the download stage's config hash.
    """

    # Threads per batch: downloads wait on the network, not the CPU.
    workers: int = Field(default=4, ge=1)
    # Clip downloads started per second by all threads of the process together: gentle enough
    # that one machine is not banned by the source.
    requests_per_second: float = Field(default=1.0, gt=0)
    # yt-dlp's own pause before each download and between extraction requests (seconds): off by
    # default, the rate limit above already spaces requests.
    sleep_interval_s: float = Field(default=0.0, ge=0)
    max_sleep_interval_s: float = Field(default=0.0, ge=0)
    sleep_requests_s: float = Field(default=0.0, ge=0)
    # Transient faults (5xx, resets, timeouts) are retried this often within a run, then the
    # clip stays `retry` for the next run.
    retries: int = Field(default=3, ge=0)
    # Exponential backoff: base * 2**n seconds with jitter, capped, so retries do not stampede.
    backoff_s: float = Field(default=2.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # A stalled connection is given up after this long (seconds) instead of hanging a worker.
    timeout_s: float = Field(default=30.0, gt=0)
    # A Netscape cookies file for sources that need a session; a path, so the secret stays in
    # a file and out of the configuration, logs and metrics.
    cookies_file: Path | None = None
    # Proxy URL, possibly with credentials: a SecretStr, masked wherever it is shown.
    proxy: SecretStr | None = None
