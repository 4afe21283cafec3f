"""The process environment Prefect starts with on a fresh machine."""

from __future__ import annotations

import os
from pathlib import Path

from flows.runtime import prepare_environment
from stages.paths import DataRoot


def test_prefect_home_is_created_under_a_new_data_root(tmp_path: Path, monkeypatch) -> None:
    # Regression: Prefect creates only the last folder of PREFECT_HOME, so a fresh data root made
    # its temporary server fail with "unable to open database file".
    for name in ("PREFECT_HOME", "PYANNOTE_METRICS_ENABLED", "PREFECT_SERVER_ANALYTICS_ENABLED",
                 "DO_NOT_TRACK"):
        monkeypatch.delenv(name, raising=False)
    root = DataRoot(tmp_path / "fresh" / "cradle-data")
    prepare_environment(root)
    assert Path(os.environ["PREFECT_HOME"]).is_dir()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "1"  # Prefect 3.8's client telemetry and its notice
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "0"
