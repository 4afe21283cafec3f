"""One curation run at a time per data root, and the clean-up of what dead runs left behind.

The lock is an advisory `flock` on `<home>/cradle.lock`: the kernel releases it when its holder
dies, however it dies, so a stale lock is simply taken over. The file names the holder (pid, host,
run, start) for the message a second run prints. Holding it, a run knows that every temporary file
in the curation folders belongs to a dead run, and sweeps them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from manifests.errors import CradleError
from manifests.files import TEMP_PREFIX
from stages.paths import DataRoot

log = logging.getLogger(__name__)

LOCK_FILE = "cradle.lock"
# Folders only curation runs write. models/ and cache/ are left alone, training may be live, but
# for the open face model's temporaries: a curation run builds it.
CURATION_FOLDERS = ("raw", "audio", "faces", "fits", "shards", "runs")


class DataRootBusy(CradleError):
    """Another live run holds the data root."""


class DataRootLock:
    """The exclusive hold of one run on a data root; `update` records its run id."""

    def __init__(self, root: DataRoot, handle: IO[str]) -> None:
        self.root = root
        self._handle = handle
        self._holder: dict[str, Any] = {
            "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds")}

    @classmethod
    @contextlib.contextmanager
    def hold(cls, root: DataRoot, flow: str) -> Iterator[DataRootLock]:
        """Holds the data root for the block.

        Raises:
            DataRootBusy: another live process holds it; its pid, host and run are named.
        """
        root.home.mkdir(parents=True, exist_ok=True)
        path = root.home / LOCK_FILE
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed below)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataRootBusy(_busy_message(_holder(path))) from None
            lock = cls(root, handle)
            lock.update(flow=flow, run_id=None)
            yield lock
        finally:
            handle.close()  # releases the lock

    @staticmethod
    def holder_message(root: DataRoot) -> str | None:
        """Why a run could not start now (another holds the data root), or None; for a check
        before any work starts. The run itself still takes the lock (`hold`)."""
        path = root.home / LOCK_FILE
        if not path.is_file():
            return None
        with open(path, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _busy_message(_holder(path))
        return None

    def update(self, **info: Any) -> None:
        """Rewrites the holder's description (in place: the lock is on this open file)."""
        self._holder.update(info)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(self._holder, sort_keys=True))
        self._handle.flush()


def sweep_leftovers(root: DataRoot) -> list[Path]:
    """Removes the temporary files and work folders dead runs left in the curation folders.

    Call only while holding the data root's lock: then no live run owns any of them.

    Returns:
        What was removed, relative to the data root.
    """
    removed = []
    model = root.open_face_model  # curation builds it in models/, where training also writes
    for path in [*(path for folder in CURATION_FOLDERS
                   for path in sorted((root.home / folder).rglob(f"{TEMP_PREFIX}*"))),
                 *sorted(model.parent.glob(f"{TEMP_PREFIX}{model.stem}-*"))]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.relative_to(root.home))
    if removed:
        log.info("removed %d leftovers of interrupted runs (e.g. %s)", len(removed), removed[0])
    return removed


def _holder(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8") or "{}"))
    except (OSError, ValueError):
        return {}


def _busy_message(holder: dict[str, Any]) -> str:
    run = f" run {holder['run_id']}" if holder.get("run_id") else ""
    who = (f"{holder.get('flow', 'a flow')}{run}, pid {holder.get('pid', '?')} on "
           f"{holder.get('host', '?')}, since {holder.get('since', '?')}")
    return (f"another Cradle run is using this data root ({who}); wait for it to finish, or "
            "give this run its own CRADLE_HOME")
