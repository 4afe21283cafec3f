"""A run that crashed, told in one line: the step that raised, the exception, and where its
traceback is.

Cradle's own errors (`CradleError`) already say what to fix; anything else a run raises is a bug
or an environment fault whose traceback matters to whoever debugs it, not to the operator
watching the run. So the traceback is saved beside the run (`runs/<run_id>/traceback.txt`) and
printed only with --verbose.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path

from flows.console import ledger_exists, shown_path
from manifests.errors import CradleError
from manifests.files import atomic_write_text
from manifests.ledger import Ledger
from stages.config import CradleConfig
from stages.paths import DataRoot

TRACEBACK_NAME = "traceback.txt"


def crash_summary(cfg: CradleConfig, flow: str, error: Exception, started: str) -> str:
    """The one line that tells a crash: `flow` crashed in which step, with what exception, and
    where its traceback was saved, when the run had opened its ledger run (at or after
    `started`, from `manifests.ledger.runs.run_clock`) to save it beside."""
    line = f"{flow} crashed in {failed_step(error)}: {type(error).__name__}: {error}"
    saved = save_traceback(cfg, error, started)
    if saved is None:
        return f"{line}; rerun with --verbose for the traceback"
    return f"{line}; traceback in {shown_path(saved)} (or rerun with --verbose)"


def failed_step(error: BaseException) -> str:
    """Where `error` was raised, in the run's terms: the stage whose code raised it, else the
    innermost step of the flows (`module.function`), else "the flow"."""
    stage = step = None
    frame = error.__traceback__
    while frame is not None:
        module = str(frame.tb_frame.f_globals.get("__name__", ""))
        parts = module.split(".")
        if parts[0] == "stages" and len(parts) > 2:  # stages.<stage>.<module>
            stage = parts[1]
        elif parts[0] == "flows" and module not in (__name__, "flows.run_cli"):
            step = f"{module}.{frame.tb_frame.f_code.co_name}"
        frame = frame.tb_next
    return f"the {stage} stage" if stage else step or "the flow"


def save_traceback(cfg: CradleConfig, error: Exception, started: str) -> Path | None:
    """Writes `error`'s traceback beside the ledger run begun since `started`; None when the
    run never got that far (or the ledger cannot say)."""
    run_id = _run_since(cfg, started)
    if run_id is None:
        return None
    root = DataRoot(cfg.home)
    path = root.run_dir(run_id) / TRACEBACK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    # The run folder is shared like the rest of the data root: no absolute local path in it.
    text = root.relative_text("".join(traceback.format_exception(error)))
    return atomic_write_text(path, text.replace(str(Path.home()), "~"))


def _run_since(cfg: CradleConfig, started: str) -> str | None:
    if not ledger_exists(cfg):
        return None
    # The crash may be the ledger's own: then there is no run to name, and the crash is the news.
    with contextlib.suppress(CradleError):
        ledger = Ledger.open(cfg.ledger_url)
        try:
            run_id = ledger.latest_run_id()
        finally:
            ledger.close()
        return run_id if run_id is not None and run_id >= started else None
    return None
