"""yt-dlp, configured once: fetch one padded section of one video, and describe where it came from.

Only yt-dlp's Python API is used (no subprocess of the CLI), with its own retries off so that
the download stage alone decides what is retried and how often (and tests can count requests).
When yt-dlp's ffmpeg fails on a direct link, `_check_source` tells a broken transfer (retry)
from a source that is not media (permanent) — only then, so the happy path sends no extra request.
"""

from __future__ import annotations

import logging
import shutil
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yt_dlp
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import RequestError
from yt_dlp.postprocessor import PostProcessor
from yt_dlp.utils import DownloadError, download_range_func

from manifests.outcomes import ReasonCode, Status
from manifests.records import Clip
from stages.download.config import DownloadConfig, NetworkConfig
from stages.download.faults import DownloadFault, redact
from stages.download.media import probe

log = logging.getLogger(__name__)

YT_DLP_VERSION = yt_dlp.version.__version__
_TEXT_LIMIT = 500  # provenance text is untrusted: bounded and stripped of control characters
# A failed direct link is read again in full only up to this size: a second read of a larger
# source costs more than the few retries (and the ledger's attempt bound) it would save.
_CHECK_LIMIT = 64 << 20
FILE_SCHEME = "file://"
# Demo clips name a file of the offline demo corpus; the loopback server that `cradle run --demo`
# starts serves them, at a base URL known only while it runs (`DownloadSettings.demo_base_url`).
DEMO_SCHEME = "demo://"
DEMO_URL = DEMO_SCHEME + "{ytid}.mp4"  # a url_template for the demo's AudioSet-format list


def resolve_demo(clip: Clip, base_url: str | None) -> Clip:
    """`demo://x.mp4` → `<base_url>x.mp4`; the clip keeps its id, so the ledger is unchanged.

    Raises:
        ValueError: a demo clip with no demo server running.
    """
    if not clip.url.startswith(DEMO_SCHEME):
        return clip
    if base_url is None:
        raise ValueError(f"clip {clip.id} is a demo clip: no demo server is running for it")
    return replace(clip, url=base_url.rstrip("/") + "/" + clip.url[len(DEMO_SCHEME):])


@dataclass(frozen=True)
class FetchedSection:
    """A downloaded section: where it starts in the source, what it holds, where it came from."""

    path: Path
    start_s: float
    # None when the source does not say (direct links) or says what cannot be trusted (files)
    source_duration_s: float | None
    provenance: dict[str, Any]


def fetch_section(clip: Clip, dl: DownloadConfig, net: NetworkConfig, work: Path) -> FetchedSection:
    """Downloads `[start - pad, end + pad]` of the clip's video into `work`.

    Raises:
        yt_dlp.utils.DownloadError: what yt-dlp raises; `stages.download.faults.classify` judges it.
        DownloadFault: yt-dlp reported success but wrote nothing usable, or a direct link
            delivered in full is not decodable media (`corrupt_media`).
    """
    if clip.url.startswith(FILE_SCHEME):
        return _local_section(clip)
    start = max(0.0, clip.start_s - dl.pad_s)
    end = clip.end_s + dl.pad_s
    secrets = (net.proxy.get_secret_value(),) if net.proxy else ()
    with yt_dlp.YoutubeDL(_options(clip.url, start, end, dl, net, work, secrets)) as ydl:
        resolved = _Resolved()
        ydl.add_post_processor(resolved, when="before_dl")
        try:
            info = ydl.extract_info(clip.url, download=True)
        except DownloadError as e:
            if resolved.info is not None and resolved.info.get("direct"):
                _check_source(ydl, resolved.info, work, e)
            raise
    if info is None:
        raise DownloadFault("yt-dlp returned nothing", Status.FAILED,
                            ReasonCode.VIDEO_UNAVAILABLE)
    downloads = info.get("requested_downloads") or []
    files = [Path(d["filepath"]) for d in downloads if d.get("filepath")]
    if not files or not files[0].is_file() or files[0].stat().st_size == 0:
        raise DownloadFault("yt-dlp wrote no file", Status.RETRY, ReasonCode.NETWORK_ERROR)
    return FetchedSection(files[0], start, info.get("duration"), _provenance(info, secrets))


def _local_section(clip: Clip) -> FetchedSection:
    """A local file needs no download (and yt-dlp cannot cut one): the whole file is the section.

    Its length is left unknown: a header may declare more than the file holds, so the stage
    judges a local file by what it decodes to.
    """
    path = Path(unquote(urlparse(clip.url).path))
    if not path.is_file():
        raise DownloadFault(f"no such file: {path.name}", Status.FAILED,
                            ReasonCode.VIDEO_UNAVAILABLE)
    return FetchedSection(path, 0.0, None,
                          {"extractor": "local file", "title": _text(path.name, ())})


class _Resolved(PostProcessor):
    """Keeps the media request yt-dlp is about to download, so a failure can be checked."""

    def __init__(self) -> None:
        super().__init__()
        self.info: dict[str, Any] | None = None

    def run(self, information: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        self.info = information
        return [], information


def _check_source(ydl: yt_dlp.YoutubeDL, info: dict[str, Any], work: Path,
                  error: DownloadError) -> None:
    """Judges a failed download of a direct link by reading the whole source once more.

    ffmpeg exits 1 alike for a connection cut short and for bytes that are not media. Only a
    body delivered exactly as announced (`Content-Length`) and still unreadable by ffprobe is
    the source's fault; anything else returns, and the caller's error stays transient.

    Raises:
        DownloadFault: the source is complete and not decodable (`failed`, with the reason
            ffprobe's reading gives: `corrupt_container`, `not_a_video`).
    """
    copy = _read_whole(ydl, info["url"], info.get("http_headers") or {}, work)
    if copy is None:
        return
    try:
        probe(copy)
    except DownloadFault as bad:
        raise DownloadFault(f"{error} and the {copy.stat().st_size}-byte source, delivered in "
                            f"full, is not media: {bad}", Status.FAILED, bad.reason) from error


def whole_source(url: str, net: NetworkConfig, work: Path) -> Path | None:
    """A direct link's whole body, read once, when a short clip must be told from a short source.

    Returns:
        The copy, or None when it cannot prove anything: cut short, or of unknown or large size.
    """
    options: dict[str, Any] = {"quiet": True, "logger": _YtdlpLogger(()),
                               "socket_timeout": net.timeout_s}
    if net.proxy:
        options["proxy"] = net.proxy.get_secret_value()
    with yt_dlp.YoutubeDL(options) as ydl:
        return _read_whole(ydl, url, {}, work)


def _read_whole(ydl: yt_dlp.YoutubeDL, url: str, headers: dict[str, str],
                work: Path) -> Path | None:
    """The body in `work`, only if delivered exactly as announced and at most `_CHECK_LIMIT`."""
    try:
        with ydl.urlopen(Request(url, headers=headers)) as response:
            announced = int(response.headers.get("Content-Length") or -1)
            if not 0 <= announced <= _CHECK_LIMIT:
                return None  # unknown or too large to read again: cannot prove the source at fault
            body = response.read()
    except (RequestError, OSError) as e:  # the transfer failed again: that is the finding
        log.debug("reading all of %s: %r; a transfer fault", redact(url), e)
        return None
    if len(body) != announced:
        return None
    copy = work / "source.check"
    copy.write_bytes(body)
    return copy


def _options(url: str, start: float, end: float, dl: DownloadConfig, net: NetworkConfig, work: Path,
             secrets: tuple[str, ...]) -> dict[str, Any]:
    height = dl.max_height
    options: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,  # quiet alone does not silence progress lines
        "logger": _YtdlpLogger(secrets),
        "noplaylist": True,
        "cachedir": False,
        "overwrites": True,
        "outtmpl": str(work / "section.%(ext)s"),
        # At most `max_height` (unknown heights allowed: direct links do not say), preferring
        # H.264 + AAC, which decode fast and never need a codec the Debian ffmpeg lacks.
        "format": f"bv*[height<=?{height}]+ba/b[height<=?{height}]",
        "format_sort": [f"res:{height}", "vcodec:h264", "acodec:aac"],
        "merge_output_format": "mkv",  # holds any codec pair; the exact trim re-encodes anyway
        "download_ranges": download_range_func(None, [(start, end)]),
        "socket_timeout": net.timeout_s,
        # ffmpeg does the section download; without this a stalled server hangs it forever.
        "external_downloader_args": {"ffmpeg_i": ["-rw_timeout", str(int(net.timeout_s * 1e6))]},
        "retries": 0,  # the stage retries with backoff and counts; yt-dlp must not add its own
        "extractor_retries": 0,
        "fragment_retries": 0,
        "file_access_retries": 0,
    }
    if net.sleep_interval_s:
        options["sleep_interval"] = net.sleep_interval_s
        options["max_sleep_interval"] = max(net.max_sleep_interval_s, net.sleep_interval_s)
    if net.sleep_requests_s:
        options["sleep_interval_requests"] = net.sleep_requests_s
    if net.proxy:
        options["proxy"] = net.proxy.get_secret_value()
    if net.cookies_file:
        # yt-dlp writes cookies back on exit: give each attempt its own copy, so threads never
        # write one file at once and the user's file is never changed.
        options["cookiefile"] = str(shutil.copy(net.cookies_file, work / "cookies.txt"))
    if url.startswith("file:"):
        options["enable_file_urls"] = True  # local files go through the same path as the web
    return options


def _provenance(info: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    formats = info.get("requested_formats") or [info]
    return {
        "yt_dlp_version": YT_DLP_VERSION,
        "format_ids": [str(f.get("format_id")) for f in formats],
        "extractor": _text(info.get("extractor_key"), secrets),
        "video_id": _text(info.get("id"), secrets),
        "webpage_url": _text(info.get("webpage_url"), secrets),
        "title": _text(info.get("title"), secrets),
        "channel": _text(info.get("channel") or info.get("uploader"), secrets),
        "upload_date": _text(info.get("upload_date"), secrets),
        "license": _text(info.get("license"), secrets),
        "source_duration_s": info.get("duration"),
    }


def _text(value: Any, secrets: tuple[str, ...]) -> str | None:
    """Untrusted text from the source: no control characters, bounded, secrets masked."""
    if value is None:
        return None
    text = "".join(c for c in str(value) if unicodedata.category(c)[0] != "C")
    return redact(text[:_TEXT_LIMIT], secrets)


class _YtdlpLogger:
    """Routes yt-dlp's messages to logging at debug level, with secrets masked.

    Errors are raised as exceptions and judged by the stage, so they are not logged twice.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets

    def debug(self, message: str) -> None:
        log.debug("yt-dlp: %s", redact(message, self.secrets))

    def info(self, message: str) -> None:
        log.debug("yt-dlp: %s", redact(message, self.secrets))

    def warning(self, message: str) -> None:
        log.debug("yt-dlp warning: %s", redact(message, self.secrets))

    def error(self, message: str) -> None:
        log.debug("yt-dlp error: %s", redact(message, self.secrets))
