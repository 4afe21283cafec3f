"""What every `cradle` command shares: the terminal, and turning Cradle's errors into one line."""

from __future__ import annotations

import typer
from rich.console import Console

from manifests.errors import CradleError
from manifests.ledger import Ledger
from stages.config import CradleConfig, load_config

console = Console()


def fail(error: Exception) -> typer.Exit:
    """Prints `error` as one line and exits 2: what a person must fix, not a traceback."""
    console.print(f"[red]error:[/] {error}")
    raise typer.Exit(2)


def config_or_exit() -> CradleConfig:
    try:
        return load_config()
    except CradleError as e:
        fail(e)


def ledger_or_exit(cfg: CradleConfig) -> Ledger:
    try:
        return Ledger.open(cfg.ledger_url)
    except CradleError as e:
        fail(e)
