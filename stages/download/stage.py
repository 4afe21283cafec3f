"""The download stage: a segment plus padding with yt-dlp, then an exact ffmpeg trim.

Per clip: yt-dlp fetches only `[start - pad, end + pad]` (`download_ranges`, a stream copy cut
at keyframes), ffmpeg trims it exactly to constant-rate H.264 video and 16 kHz mono PCM audio,
ffprobe verifies both, and `raw/<clip>.mp4`, `raw/<clip>.wav` and a provenance sidecar
`raw/<clip>.json` are renamed into place only when all is well. Transient faults are retried
with backoff inside the stage; a 429 or bot check opens the run's circuit breaker and every
clip not yet tried is deferred to the next run.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from manifests.files import atomic_path, atomic_write_json, sha256_file
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.contract import RunContext, StageSpec
from stages.download.config import DownloadConfig, NetworkConfig
from stages.download.faults import DownloadFault, classify
from stages.download.fetch import (
    FILE_SCHEME,
    FetchedSection,
    fetch_section,
    resolve_demo,
    whole_source,
)
from stages.download.media import MediaInfo, judge_source, normalise, probe, probe_wav
from stages.download.throttle import BreakerState, CircuitBreaker, backoff_delay, shared_limiter
from stages.paths import DataRoot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadSettings:
    """The stage's `cfg`: what to write, how to fetch it, and which run's breaker to obey."""

    download: DownloadConfig
    network: NetworkConfig
    run_id: str
    demo_base_url: str | None = None  # where `demo://` clips are served this run

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line or the ledger."""
        proxy = self.network.proxy
        return (proxy.get_secret_value(),) if proxy else ()


def run(clips: Sequence[Clip], cfg: DownloadSettings, root: DataRoot) -> list[StageResult]:
    """Downloads a batch with `cfg.network.workers` threads; one result per clip."""
    breaker = CircuitBreaker(root.run_dir(cfg.run_id))
    with ThreadPoolExecutor(cfg.network.workers, thread_name_prefix="download") as pool:
        return list(pool.map(lambda clip: download_clip(clip, cfg, root, breaker), clips))


def settings(ctx: RunContext) -> DownloadSettings:
    """What a batch needs: the hashed `download` section, plus `network`, which is not hashed."""
    if ctx.run_id is None:
        raise ValueError("the download stage needs a run id: its circuit breaker is per run")
    return DownloadSettings(ctx.cfg.download, ctx.cfg.network, ctx.run_id, ctx.demo_base_url)


def breaker_state(root: DataRoot, run_id: str) -> BreakerState | None:
    """Why the run's circuit breaker opened (429, bot check), or None while it is closed."""
    return CircuitBreaker(root.run_dir(run_id)).state()


def halted(ctx: RunContext) -> str | None:
    """Once the breaker is open, no further batch is scheduled: the rest wait for the next run."""
    state = breaker_state(ctx.root, ctx.run_id) if ctx.run_id else None
    return None if state is None else state.reason.value


# One batch at a time: its `network.workers` threads are the stage's parallelism, and the rate
# limit and breaker are easier on the source that way.
STAGE = StageSpec("download", "1", run, section="download", settings=settings, halted=halted,
                  parallel_batches=1)


def download_clip(clip: Clip, cfg: DownloadSettings, root: DataRoot,
                  breaker: CircuitBreaker) -> StageResult:
    """One clip, with bounded retries of transient faults; never raises for a per-clip fault."""
    net = cfg.network
    if clip.duration_s > cfg.download.max_duration_s:
        return StageResult.rejected(clip.id, ReasonCode.CLIP_TOO_LONG, {
            "duration_s": round(clip.duration_s, 3),
            "max_duration_s": cfg.download.max_duration_s})
    source_url = clip.url  # canonical: a demo clip's served URL has this run's port in it
    clip = resolve_demo(clip, cfg.demo_base_url)
    limiter = shared_limiter(net.requests_per_second)
    tries: list[str] = []
    for attempt in range(net.retries + 1):
        opened = breaker.state()
        if opened is not None:  # not tried (again) this run: the clip stays pending
            return StageResult.defer(clip.id, opened.reason, {"breaker_opened_at": opened.opened_at,
                                                              "tries": tries})
        waited = limiter.acquire()
        started = time.monotonic()
        try:
            metrics = _fetch_and_normalise(clip, cfg, root, source_url)
        except Exception as e:  # judged below; the message is kept, redacted, in the metrics
            fault = classify(e, cfg.secrets)
            fault = replace(fault, message=root.relative_text(fault.message))
        else:  # the clip's own time, as every stage records it; the failures' below too
            metrics.update(tries=tries, attempts=attempt + 1,
                           seconds=round(time.monotonic() - started, 3),
                           rate_wait_s=round(waited, 3))
            return StageResult.ok(clip.id, metrics, outputs=raw_outputs(root, clip.id))
        tries.append(f"{fault.reason.value}: {fault.message}"[:500])
        log.info("download %s attempt %d: %s (%s)", clip.id, attempt + 1, fault.reason.value,
                 fault.message[:200])
        metrics = {"tries": tries, "attempts": attempt + 1, "error": fault.message[:1000],
                   "seconds": round(time.monotonic() - started, 3), "rate_wait_s": round(waited, 3)}
        if fault.trips_breaker:
            state = breaker.trip(fault.reason, clip.id, fault.message[:1000], fault.retry_after_s)
            log.warning("circuit breaker open (%s on %s): no more downloads this run",
                        state.reason.value, clip.id)
            return StageResult(clip.id, Status.RETRY, fault.reason,
                               {**metrics, "breaker": state.to_dict()})
        if not fault.transient or attempt == net.retries:
            return StageResult(clip.id, fault.status, fault.reason, metrics)
        time.sleep(backoff_delay(attempt, net.backoff_s, net.backoff_max_s))
    raise AssertionError("unreachable: the loop returns on its last attempt")


def raw_outputs(root: DataRoot, clip_id: str) -> dict[str, Path]:
    files = root.clip(clip_id)
    return {"video": files.raw_video, "audio": files.raw_audio, "provenance": files.provenance}


def _fetch_and_normalise(clip: Clip, cfg: DownloadSettings, root: DataRoot,
                         source_url: str) -> dict[str, Any]:
    """One attempt: fetch the padded section, trim it, verify it, rename the outputs in place.

    The provenance names `source_url`, the clip's canonical URL, and never the address it was
    fetched from this run: shards embed it, and must not change with a server's port.
    """
    dl = cfg.download
    outputs = raw_outputs(root, clip.id)
    root.raw.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{clip.id}-", dir=root.raw))
    try:
        section = fetch_section(clip, dl, cfg.network, work)
        source = probe(section.path)
        judge_source(source, dl.min_side_px)
        with atomic_path(outputs["video"]) as video, atomic_path(outputs["audio"]) as audio:
            normalise(section.path, clip.start_s - section.start_s, clip.duration_s, dl.fps,
                      dl.sample_rate, dl.max_height, video, audio)
            video_info = probe(video)
            got = video_info.video_duration_s or video_info.duration_s
            if got < clip.duration_s - 1.0 / dl.fps:
                _judge_short(clip, section, source, got, cfg, work)
            checks = verify(video_info, probe_wav(audio), clip.duration_s, dl)
        provenance = {
            **section.provenance,
            **({"webpage_url": source_url} if source_url != clip.url else {}),
            "video_sha256": sha256_file(outputs["video"]),
            "audio_sha256": sha256_file(outputs["audio"]),
            "clip_id": clip.id, "start_s": clip.start_s, "end_s": clip.end_s,
        }
        atomic_write_json(outputs["provenance"], provenance)
        return {**checks, "provenance": provenance}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _judge_short(clip: Clip, section: FetchedSection, source: MediaInfo, got: float,
                 cfg: DownloadSettings, work: Path) -> None:
    """A short clip means a truncated transfer (retry) unless the source itself is short.

    What the source decodes to decides, not the length its header declares: a header that
    overstates it would otherwise make the clip `retry` on every run, forever.
    """
    declared_s = source.duration_s
    source_s, measured = section.source_duration_s, "is said to be only"  # by the extractor
    if clip.url.startswith(FILE_SCHEME):  # nothing was transferred: the decode is the truth
        source_s = clip.start_s + got
        measured = "decodes to only" if got > 0 else "decodes to at most"  # nothing after the start
    elif source_s is None:
        # A direct link's length is what its whole body decodes to: read once, only for short
        # clips; if it does not come whole, only its header is left to judge by.
        copy = whole_source(clip.url, cfg.network, work)
        try:
            info = probe(copy if copy is not None else clip.url, timeout_s=cfg.network.timeout_s)
        except DownloadFault:  # the header did not come either: judge it a network fault
            info = None
        if info is not None:
            declared_s = info.duration_s
            streams = [s for s in (info.video_duration_s, info.audio_duration_s) if s]
            source_s = max(streams) if copy is not None and streams else declared_s or None
            measured = "decodes to only" if copy is not None and streams else "declares only"
    message = (f"got {got:.3f} s of the {clip.duration_s:.3f} s asked for; the source "
               f"declares {declared_s:.3f} s")
    if source_s is not None and source_s < clip.end_s - 1.0 / cfg.download.fps:
        raise DownloadFault(f"{message}: it {measured} {source_s:.3f} s",
                            Status.FAILED, ReasonCode.DURATION_MISMATCH)
    raise DownloadFault(f"{message}: the transfer was cut short", Status.RETRY,
                        ReasonCode.NETWORK_ERROR)


def verify(video: Any, audio: Any, duration_s: float, dl: DownloadConfig) -> dict[str, Any]:
    """Checks the outputs against what was asked: length within a frame, CFR, 16 kHz mono.

    Raises:
        DownloadFault: an output is not what the later stages rely on.
    """
    frame = 1.0 / dl.fps
    video_s = video.video_duration_s or video.duration_s
    checks = {"video_duration_s": video_s, "audio_duration_s": audio.audio_duration_s,
              "frames": video.frames, "fps": float(video.fps or 0), "width": video.width,
              "height": video.height, "sample_rate": audio.sample_rate,
              "channels": audio.channels}
    if video.frames is None:
        raise DownloadFault("the trimmed clip has no video", Status.FAILED,
                            ReasonCode.NO_VIDEO_STREAM)
    if audio.sample_rate is None:
        raise DownloadFault("the trimmed clip has no audio", Status.FAILED,
                            ReasonCode.NO_AUDIO_STREAM)
    if (abs(video_s - duration_s) > frame
            or abs((audio.audio_duration_s or 0.0) - duration_s) > frame):
        raise DownloadFault(f"trimmed to {checks}, asked for {duration_s:.3f} s",
                            Status.FAILED, ReasonCode.DURATION_MISMATCH)
    if not video.constant_rate or abs(float(video.fps) - dl.fps) > 1e-6:
        raise DownloadFault(f"not constant {dl.fps} fps: {checks}", Status.FAILED,
                            ReasonCode.CORRUPT_MEDIA)
    return checks
