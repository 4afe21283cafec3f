"""Process environment for Prefect and the model libraries, set before they are imported.

Prefect reads its settings at import time, so the CLI calls `prepare_environment` first and
imports the flows after it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from stages.config import CradleConfig
from stages.paths import DataRoot


def restrict_file_modes(cfg: CradleConfig) -> None:
    """Makes everything this process creates private to its owner (or group, `storage`)."""
    os.umask(cfg.storage.umask)


_verbose = False  # set with the logging, as a `cradle` command starts


def verbose() -> bool:
    """Whether this process runs with `--verbose`: tracebacks and native logs in full."""
    return _verbose


def quiet_third_party_logs(verbose: bool) -> None:
    """Keeps the terminal to what an operator acts on unless `--verbose` asks for everything.

    Prefect's task runs announce each state ("Finished in state Completed()") at INFO; at WARNING
    only their problems show (in the terminal and Prefect's UI alike, which lists task states
    anyway). Flow runs keep INFO: the progress of each stage and the links to the run.
    """
    global _verbose
    _verbose = verbose
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
        # torch.jit.load's deprecation (Silero VAD's loader) names a local path.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        # TensorBoard's event reader (the evaluation report's curves) logs each log file it
        # looks for by its absolute path at INFO.
        logging.getLogger("tensorboard").setLevel(logging.WARNING)


def prepare_environment(root: DataRoot) -> None:
    """Points Prefect at a local SQLite-backed server under the data root unless told otherwise.

    With no `PREFECT_API_URL`, Prefect starts a temporary local server on its own; set the variable
    to use a shared Prefect server (PostgreSQL-backed, several machines) instead.
    """
    if "PREFECT_HOME" not in os.environ:
        # Prefect makes only the last folder of its home; on a fresh machine the data root is new.
        root.prefect_home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(root.prefect_home.resolve())
    # Analytics off: no telemetry about infant data leaves the machine, and no intermittent
    # "database is locked" on the telemetry insert (measured with Prefect 3.8.8).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The client side of Prefect's telemetry (3.8 sends SDK events and prints a notice) obeys
    # only the DO_NOT_TRACK convention.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The first run in a fresh PREFECT_HOME migrates Prefect's database (~20 s here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # MediaPipe's C++ side prints a warning per graph it builds; keep errors only.
    os.environ.setdefault("GLOG_minloglevel", "2")
    # pyannote.audio 4 sends usage metrics by default; infant data must not leak metadata.
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


# Lines MediaPipe's C++ side (and TensorFlow Lite's) writes straight to file descriptor 2 in
# every process that builds a graph, the faces stage's spawned workers included: absl's pre-init
# INFO and WARNING lines and a pybind message about protobuf 6. Errors (E…, F…) still show.
NATIVE_NOISE = re.compile(
    r"^(?:[IW]\d{4} \d+:\d+:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|INFO: Created TensorFlow Lite XNNPACK delegate"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|AttributeError: 'MessageFactory' object has no attribute 'GetPrototype')")


@contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Routes this process's (and its children's) file descriptor 2 through a filter that drops
    `NATIVE_NOISE` lines and passes every other byte on to the terminal unchanged (everything,
    after `quiet_third_party_logs(verbose=True)`)."""
    if _verbose:
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not NATIVE_NOISE.match(line.decode("utf-8", "replace")):
                    os.write(terminal, line)

    forwarder = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # the pipe's last write end here: the forwarder sees its end
        forwarder.join(timeout=5)
        os.close(terminal)
