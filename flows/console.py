"""What every `cradle` command shares: the terminal, `--verbose` before or after any command, and
turning Cradle's errors into one line.

Results (tables, reports, JSON) go to stdout; errors, warnings and the log go to stderr, so that
`cradle run --json > report.json` gets the report and nothing else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.main
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from typer.core import TyperGroup

from flows.runtime import quiet_third_party_logs
from manifests.errors import CradleError
from manifests.ledger import Ledger
from stages.config import CradleConfig, load_config

console = Console()  # the command's result
stderr = Console(stderr=True)  # everything else

VERBOSE = "cradle.verbose"  # click's shared `ctx.meta`: --verbose came before the command
VERBOSE_HELP = "Debug logging, with Prefect's task states and full tracebacks."


def fail(error: Exception, code: int = 2) -> NoReturn:
    """Prints `error` as one line and exits `code` (2: what a person must fix): no traceback.

    The message is printed as text, not Rich markup: it may quote a hostile source row.
    """
    stderr.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Prints a warning the user should act on, on stderr, beside the log."""
    stderr.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


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


def ledger_exists(cfg: CradleConfig) -> bool:
    """Whether there is a ledger to read: commands that only look must not create one."""
    return bool(cfg.ledger.url) or Path(cfg.ledger_url.removeprefix("sqlite:///")).exists()


def shown_path(path: Path) -> str:
    """`path` as the user can open it: relative to where they are when it lies below."""
    try:
        return str(path.resolve().relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)


class VerboseAnywhere(TyperGroup):
    """The `cradle` group: each command also takes `--verbose/-v` itself, so the flag works
    after the command's name as well as before it (where the group's callback takes it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        option = _verbose_option()
        for command in _leaves(self):
            command.params.append(option)


def _verbose_option() -> Any:
    """`--verbose/-v` as Typer builds it for a command, to add to commands that do not declare
    it: its value goes to `_start_logging`, not to the command's function."""
    template = typer.Typer(add_completion=False)

    @template.command()
    def flag(verbose: Annotated[bool, typer.Option(
            "--verbose", "-v", help=VERBOSE_HELP, is_eager=True, callback=_start_logging)]
             = False) -> None:
        """Never run: only its parameter is taken."""

    [option] = typer.main.get_command(template).params
    option.expose_value = False
    return option


def _leaves(group: TyperGroup) -> Iterator[Any]:
    for command in group.commands.values():
        if isinstance(command, TyperGroup):
            yield from _leaves(command)
        else:
            yield command


def _start_logging(ctx: typer.Context, given_after: bool) -> None:
    """Configures logging once per command, before it runs: the group's callback has seen the
    flags before the command's name by then, and this parameter (eager) the ones after it."""
    if ctx.resilient_parsing:
        return
    verbose = given_after or bool(ctx.meta.get(VERBOSE))
    handler = RichHandler(console=stderr, show_path=False)
    handler.setFormatter(logging.Formatter() if verbose else _WithoutTraceback())
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    # Alembic announces each migration plugin and httpx each Prefect API call at INFO.
    for chatty in ("alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    quiet_third_party_logs(verbose)


class _WithoutTraceback(logging.Formatter):
    """A record's message alone: a failed task or flow logs its traceback (Prefect's UI keeps
    it); the terminal gets the message, and the full traceback with --verbose."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()
