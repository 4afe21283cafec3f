"""Signing in and out. The only routes reachable without a session.

The login form is protected by a double-submit token (a cookie and a field that must agree), and
failed logins are limited per account (in the ledger's audit log, shared by every server
process) and per client address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from review.deps import LedgerDep, Session, SettingsDep
from review.pages import render
from review.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    new_token,
    same_token,
    token_hash,
    verify_password,
)
from review.settings import ReviewSettings

public = APIRouter()
signed = APIRouter()


def secure(request: Request, settings: ReviewSettings) -> bool:
    """Whether cookies get the Secure flag: set, or the request came over HTTPS."""
    if settings.secure_cookies is not None:
        return settings.secure_cookies
    proto = request.headers.get("x-forwarded-proto") if settings.behind_proxy else None
    return (proto or request.url.scheme) == "https"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/queue"
    return target


@public.get("/login")
def login_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    token = new_token()
    response = render(request, "login.html", login_token=token, next=safe_next(next), error=None)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=secure(request, settings), max_age=3600, path="/login")
    return response


@public.post("/login")
def login(request: Request, ledger: LedgerDep, settings: SettingsDep,
          name: Annotated[str, Form(max_length=100)],
          password: Annotated[str, Form(max_length=1000)],
          csrf_token: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form(max_length=2000)] = "/queue") -> Response:
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"

    def refuse(message: str, status: int) -> Response:
        token = new_token()
        response = render(request, "login.html", status, login_token=token, next=safe_next(next),
                          error=message)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure(request, settings), max_age=3600, path="/login")
        return response

    if not same_token(csrf_token, request.cookies.get(LOGIN_COOKIE)):
        return refuse("The login form expired. Please try again.", 403)
    since = datetime.now(UTC) - timedelta(seconds=settings.login_window_s)
    if (limiter.blocked(client)
            or ledger.audit_count(name, "login_failed", since) >= settings.login_attempts):
        ledger.audit(name, "login_throttled")
        minutes = max(1, settings.login_window_s // 60)
        return refuse(f"Too many failed logins. Try again in {minutes} minutes.", 429)
    user = ledger.user(name)
    if not verify_password(user.password_hash if user else None, password) or not (
            user and user.active):
        limiter.failed(client)
        ledger.audit(name, "login_failed")
        return refuse("Wrong name or password.", 401)
    token = new_token()
    expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
    ledger.open_session(token_hash(token), user.name, new_token(), expires)
    ledger.audit(user.name, "login")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=secure(request, settings),
                        max_age=int(settings.session_hours * 3600), path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@signed.post("/logout")
def logout(session: Session, ledger: LedgerDep) -> Response:
    ledger.close_session(session.token_hash)
    ledger.audit(session.user.name, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

