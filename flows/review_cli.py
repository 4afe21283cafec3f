"""`cradle review`: serve the annotators' web app and manage its accounts.

Wiring only: the ledger and label names come from Cradle's configuration, the server's own
settings from `CRADLE_REVIEW_*` (review.settings); the app itself is `review.app.create_app`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from flows.console import console, fail, warn
from flows.status_cli import label_names
from manifests.errors import CradleError
from manifests.ledger import Ledger
from stages.config import load_config

review = typer.Typer(help="The review UI: annotators confirm or override verdicts.",
                     no_args_is_help=True)


@review.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8008).")] = None,
) -> None:
    """Serve the review UI (loopback only unless --host says otherwise)."""
    import uvicorn

    from review.app import create_app
    from review.settings import load_settings

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        settings = load_settings(**overrides)
        cfg = load_config()
        ledger = Ledger.open(cfg.ledger_url)
        names = label_names(cfg)
    except CradleError as e:
        fail(e, code=1)
    if not ledger.users():
        warn("no accounts yet: add one with [bold]cradle review add-user NAME --role admin[/]")
    if not settings.on_loopback:
        warn(f"serving on {settings.host}, beyond this machine: put it behind HTTPS (a reverse "
             "proxy) so that sessions are Secure.")
    console.print(f"Review UI at http://{settings.host}:{settings.port}/ (Ctrl+C stops it)")
    try:
        uvicorn.run(create_app(ledger, settings, cfg.home, names), host=settings.host,
                    port=settings.port,
                    log_level="warning", proxy_headers=settings.behind_proxy)
    finally:
        ledger.close()


@review.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="The account name.")],
    role: Annotated[Literal["annotator", "admin"],
                    typer.Option(help="annotator: review clips; admin: also manage users.")],
) -> None:
    """Add an account (or reset its password and role); the password is prompted, never an
    argument."""
    from review.security import hash_password

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        password_hash = hash_password(password)
        ledger = Ledger.open(load_config().ledger_url)
    except (CradleError, ValueError) as e:
        fail(e, code=1)
    try:
        ledger.add_user(name, role, password_hash)
        ledger.audit("cli", "user_saved", name, {"role": role})
    finally:
        ledger.close()
    console.print(f"Saved {role} [bold]{name}[/].")
