"""`serve_corpus`: a loopback HTTP server, so demos and tests use the real download path.

yt-dlp and ffmpeg read media over HTTP with Range requests (ffmpeg seeks inside an mp4 that
way), which Python's built-in handler does not answer; this one does, with 206 and 416.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1", "localhost")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A client hanging up mid-answer: ffmpeg does after reading the range it needs, yt-dlp after the
# headers. Normal for media over HTTP, so not worth a traceback.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Serves files with `Accept-Ranges: bytes` and single-range 206 answers; logs nothing."""

    _range: tuple[int, int] | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test run must not fill stderr with request lines."""

    def send_head(self) -> BinaryIO | None:  # type: ignore[override]
        self._range = None
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not header or not os.path.isfile(path):
            return super().send_head()
        match = _RANGE.match(header.strip())
        size = os.path.getsize(path)
        if not match or match.groups() == ("", ""):
            return super().send_head()  # unsupported (multi-range): send the whole file
        first, last = match.groups()
        if first == "":  # a suffix: the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        handle = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        handle.seek(start)
        self._range = (start, end)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return handle

    def end_headers(self) -> None:
        if self._range is None:
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        if self._range is None:
            shutil.copyfileobj(source, outputfile)
            return
        remaining = self._range[1] - self._range[0] + 1
        while remaining > 0:
            block = source.read(min(1 << 16, remaining))
            if not block:
                break
            outputfile.write(block)
            remaining -= len(block)


class CorpusServer(ThreadingHTTPServer):
    """Logs client disconnects at debug level and every other handler error with its traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, _DISCONNECTS):
            log.debug("client %s hung up: %r", client_address, error)
        else:
            log.error("error serving %s", client_address, exc_info=True)


class _IPv6CorpusServer(CorpusServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def serve_corpus(directory: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves `directory` over HTTP on loopback in a background thread.

    Args:
        directory: the folder to serve (a generated demo corpus).
        host: a loopback address; anything else is refused, the corpus is not for the network.
        port: 0 picks a free port.

    Yields:
        The base URL, ending in "/".

    Raises:
        ValueError: `host` is not a loopback address.
    """
    if host not in LOOPBACK:
        raise ValueError(f"serve_corpus binds to loopback only ({LOOPBACK}), not {host!r}")
    handler = functools.partial(RangeRequestHandler, directory=str(Path(directory)))
    server_cls = _IPv6CorpusServer if ":" in host else CorpusServer
    server = server_cls((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="cradle-demo-http", daemon=True)
    thread.start()
    bound_port = server.server_address[1]
    url_host = f"[{host}]" if ":" in host else host
    # The folder's name only: logs reach Prefect's database, and must name no local path.
    log.info("serving %s/ on http://%s:%d/", Path(directory).name, url_host, bound_port)
    try:
        yield f"http://{url_host}:{bound_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
