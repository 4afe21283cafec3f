"""A stage's progress where people look: a live bar per stage in a terminal, a progress artifact
and log lines in Prefect.

The flow runs in the `cradle` process, so its stages can draw on the terminal the command owns
(`live_bars`). Off a terminal (a pipe, CI, a deployment's worker) the same progress goes to the
flow's log at most every `PROGRESS_EVERY_S`, which is also what Prefect's UI shows beside the
progress artifact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.runtime import flow_run
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PROGRESS_EVERY_S = 10.0
_bars: Progress | None = None  # the terminal's live display while `live_bars` is open
_adopted: dict[logging.Handler, Console] = {}  # log handler -> its own console, meanwhile
_CONSOLE_HANDLERS = (PrefectConsoleHandler, RichHandler)  # Prefect's own; the `cradle` CLI's


@contextmanager
def live_bars(console: Console) -> Iterator[None]:
    """Draws each stage's bar on `console` while the block runs, when it is a terminal.

    Console log lines (Prefect's, the CLI's) are printed through the same console meanwhile, so
    they scroll above the bars instead of tearing them. Writes to stderr are left alone: they
    pass through the filter of native library noise (`flows.runtime`).
    """
    global _bars
    if not console.is_terminal:
        yield
        return
    bars = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("clips  {task.fields[rate]}  elapsed"), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=console,
                    redirect_stderr=False)
    with bars:
        _bars = bars
        try:
            _adopt_console_handlers()
            yield
        finally:
            _bars = None
            for handler, own in _adopted.items():
                handler.console = own
            _adopted.clear()


def _adopt_console_handlers() -> None:
    """Points the console log handlers at the bars' console; again once a flow has started,
    since Prefect may configure its logging anew when its temporary server starts."""
    if _bars is None:
        return
    loggers = [logging.getLogger(), *(logging.getLogger(name)
                                      for name in logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, _CONSOLE_HANDLERS) and handler not in _adopted:
                _adopted[handler] = handler.console
                handler.console = _bars.console


class StageProgress:
    """Clips done of a stage's total, with rate and ETA; call from a flow."""

    def __init__(self, stage: str, total: int) -> None:
        _adopt_console_handlers()
        self.stage, self.total, self.done = stage, total, 0
        self.started = self.shown = time.monotonic()
        self.bar: TaskID | None = _bars.add_task(stage, total=total, rate="") if _bars else None
        self.artifact: UUID = create_progress_artifact(
            0.0 if total else 100.0, key=f"{flow_run.flow_name}-progress-{stage}",
            description=f"{stage}: clips done of {total}")

    def advance(self, clips: int) -> None:
        self.done += clips
        now = time.monotonic()
        rate = self.done / max(now - self.started, 1e-6)  # clips per second
        if _bars is not None and self.bar is not None:
            _bars.update(self.bar, completed=self.done, rate=f"{60 * rate:.1f}/min")
        finished = self.done >= self.total
        if not finished and now - self.shown < PROGRESS_EVERY_S:
            return
        self.shown = now
        update_progress_artifact(self.artifact, 100.0 * self.done / max(self.total, 1))
        if _bars is not None and not finished:
            return  # the bar shows it; the log keeps the stage's last line
        eta = "" if finished else (
            f", about {(self.total - self.done) / rate / 60:.0f} min left")
        get_run_logger().info("%s: %d/%d clips, %.1f clips/min%s", self.stage, self.done,
                              self.total, 60 * rate, eta)
