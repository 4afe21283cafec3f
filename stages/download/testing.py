"""A loopback media server with injected faults, for download tests and the benchmark.

`GET /<fault>/<name>.mp4` serves the test video (or the extra file called `name`), or fails the
way real hosts fail. The fault is the first path part, so a test names the failure in the clip's
URL and counts the server's hits per path to check that retries stay within their bound. Range
requests are answered (206), because yt-dlp's ffmpeg downloader seeks inside the mp4 with them.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BOT_PAGE = b"<html><body>Sign in to confirm you're not a bot</body></html>"
HTML_PAGE = b"<html><head><title>Welcome</title></head><body>No video here.</body></html>"


def make_test_video(path: Path, seconds: float = 6.0, size: str = "320x240",
                    faststart: bool = True) -> Path:
    """An H.264 + AAC mp4 (30 fps, keyframe each second) from lavfi sources.

    With `faststart` the moov atom (the index) comes first; without, last, as a camera writes it,
    so that a file cut short has no index at all.
    """
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
         "-c:a", "aac", *(["-movflags", "+faststart"] if faststart else []), str(path)],
        check=True,
    )
    return path


@dataclass
class FaultServer:
    """State shared by the handler threads: the media bytes and the hit counts per path."""

    media: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # served as /<fault>/<name>.mp4
    hits: Counter[str] = field(default_factory=Counter)
    drip_s: float = 3.0  # how long a "drip" answer stalls: longer than the tests' timeout
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""
    healed: bool = False  # set to serve the media on every path: the source has recovered

    def hit(self, path: str) -> int:
        with self.lock:
            self.hits[path] += 1
            return self.hits[path]

    def count(self, fault: str) -> int:
        """Hits on every path under /<fault>/."""
        return sum(n for path, n in self.hits.items() if path.startswith(f"/{fault}/"))

    def url(self, fault: str, name: str = "clip") -> str:
        return f"{self.base_url}{fault}/{name}.mp4"

    def body(self, path: str) -> bytes:
        """The extra file the path names, else the test video."""
        return self.files.get(path.rsplit("/", 1)[-1].removesuffix(".mp4"), self.media)


class _Handler(BaseHTTPRequestHandler):
    server_state: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests must not fill stderr with request lines."""

    def do_GET(self) -> None:
        state = self.server_state
        path = self.path.split("?")[0]
        number = state.hit(path)
        fault = "ok" if state.healed else path.strip("/").split("/")[0]
        if fault.isdigit():
            self._status(int(fault))
        elif fault == "flaky503" and number == 1:
            self._status(503)
        elif fault == "reset":
            self._reset()
        elif fault == "drip":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            time.sleep(state.drip_s)
            self.close_connection = True
        elif fault in ("html", "botcheck"):
            self._body(200, BOT_PAGE if fault == "botcheck" else HTML_PAGE, "text/html")
        elif fault == "truncate":
            self._media(path, truncate=True)
        else:
            self._media(path)

    def _status(self, code: int) -> None:
        headers = {"Retry-After": "120"} if code == 429 else {}
        self._body(code, f"error {code}".encode(), "text/plain", headers)

    def _body(self, code: int, body: bytes, kind: str, headers: dict[str, str] | None = None
              ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _media(self, path: str, truncate: bool = False) -> None:
        data = self.server_state.body(path)
        match = _RANGE.match(self.headers.get("Range", "").strip())
        start, end = 0, len(data) - 1
        if match and match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), end) if match.group(2) else end
        if start > end and match:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if match and match.group(1) else 200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        if data:  # an empty file has no byte range to name
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        body = data[start:end + 1]
        if truncate:  # promise the whole body, send a third of it, hang up
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self._reset()
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP RST, as a dropped connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up early (yt-dlp reads headers only) is normal here, not news."""


@contextlib.contextmanager
def serve_faults(media: Path, drip_s: float = 3.0, files: dict[str, Path] | None = None
                 ) -> Iterator[FaultServer]:
    """Runs the fault server on 127.0.0.1 (a free port) in a background thread.

    `files` are extra media served under their key as name, e.g. broken ones.
    """
    state = FaultServer(media=Path(media).read_bytes(), drip_s=drip_s,
                        files={name: Path(f).read_bytes() for name, f in (files or {}).items()})
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
