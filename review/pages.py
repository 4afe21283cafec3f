"""Rendering: one Jinja environment (autoescaped) and the context every page gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from manifests.ledger import Decision, ReviewReason
from manifests.outcomes import ReasonCode
from review.queue import when

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(HERE / "templates"),
    # Every value is escaped: titles, channels and notes are untrusted text.
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
))
TEMPLATES.env.globals.update(
    ReasonCode=ReasonCode, ReviewReason=ReviewReason, Decision=Decision, when=when,
    urlencode=urlencode,
)


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page with the signed-in user (if any) and their CSRF token in its context."""
    signed = getattr(request.state, "signed", None)
    base = {"user": signed.user if signed else None, "csrf": signed.csrf if signed else "",
            "labels": request.app.state.label_names}
    return TEMPLATES.TemplateResponse(request, template, {**base, **context},
                                      status_code=status_code)

