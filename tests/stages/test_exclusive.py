"""One run per data root: a second is refused naming the first, a dead holder's lock is taken
over, and what dead runs left behind is swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from manifests.ledger import Ledger
from stages.exclusive import LOCK_FILE, DataRootBusy, DataRootLock, sweep_leftovers
from stages.paths import DataRoot

ROOT = Path(__file__).resolve().parents[2]


def hold_in_another_process(home: Path) -> subprocess.Popen[str]:
    """A process that holds `home` as run "run-A" until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from stages.exclusive import DataRootLock
        from stages.paths import DataRoot
        with DataRootLock.hold(DataRoot(Path({str(home)!r})), "nightly") as lock:
            lock.update(run_id="run-A")
            print("held", flush=True)
            time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home")
    holder = hold_in_another_process(root.home)
    try:
        with (pytest.raises(DataRootBusy, match=rf"nightly run run-A, pid {holder.pid} on "),
              DataRootLock.hold(root, "nightly")):
            pass
        assert f"pid {holder.pid}" in (DataRootLock.holder_message(root) or "")
    finally:
        holder.send_signal(signal.SIGKILL)  # dies holding it, as a killed run does
        holder.wait()
    assert DataRootLock.holder_message(root) is None
    with DataRootLock.hold(root, "nightly") as lock:
        lock.update(run_id="run-B")
        assert '"run_id": "run-B"' in (root.home / LOCK_FILE).read_text()


def test_cradle_run_on_a_held_data_root_says_so_in_one_line(isolated_home: Path) -> None:
    holder = hold_in_another_process(isolated_home)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(app, ["run", "--demo"], terminal_width=200)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert result.exit_code == 2
    assert "another Cradle run is using this data root" in result.output
    assert f"pid {holder.pid}" in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 20  # refused before Prefect or the corpus start
    assert not (isolated_home / "ledger.sqlite").exists()  # nothing was started


def test_sweep_removes_dead_runs_temporaries_only_in_curation_folders(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").create()
    leftovers = [root.raw / ".tmp-demo-a-0-1000-abc123", root.faces / ".tmp-x-0123456789ab.rows",
                 root.shards / "demo" / ".tmp-train-000001-0123456789ab.tar",
                 # Regression: a kill while fitting built the open face model left this behind.
                 root.models / ".tmp-open-face-model-0123456789ab.h5"]
    (leftovers[0]).mkdir()
    (leftovers[0] / "section.mp4").write_bytes(b"partial")
    for path in leftovers[1:]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    kept = [root.raw / "demo-a-0-1000.mp4", root.models / ".tmp-checkpoint-0123456789ab.pt",
            root.cache / ".tmp-features-0123456789ab.npy"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"kept")
    removed = sweep_leftovers(root)
    assert sorted(map(str, removed)) == sorted(str(p.relative_to(root.home)) for p in leftovers)
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in kept)


def test_runs_left_running_by_dead_processes_are_closed_as_crashed(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    dead = ledger.start_run("nightly", {"prefect_flow_run": "f-1"})
    done = ledger.start_run("nightly")
    ledger.finish_run(done)
    live = ledger.start_run("nightly")
    assert ledger.close_abandoned_runs(keep=live) == {dead: {"prefect_flow_run": "f-1"}}
    assert ledger.close_abandoned_runs(keep=live) == {}
    ledger.close()
