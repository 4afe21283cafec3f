"""Process environment for Prefect and the model libraries, set before they are imported.

Prefect reads its settings at import time, so the CLI calls `prepare_environment` first and
imports the flows after it.
"""

from __future__ import annotations

import os

from stages.config import CradleConfig
from stages.paths import DataRoot


def restrict_file_modes(cfg: CradleConfig) -> None:
    """Makes everything this process creates private to its owner (or group, `storage`)."""
    os.umask(cfg.storage.umask)


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
    # The first run in a fresh PREFECT_HOME migrates Prefect's database (~20 s here).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # MediaPipe's C++ side prints a warning per graph it builds; keep errors only.
    os.environ.setdefault("GLOG_minloglevel", "2")
    # pyannote.audio 4 sends usage metrics by default; infant data must not leak metadata.
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
