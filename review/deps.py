"""FastAPI dependencies: the ledger, the signed-in user, the CSRF check and the admin check.

Every router but the login page's depends on `csrf_checked`, so no route is reachable without a
session and no state-changing request without its session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from manifests.ledger import Ledger, User
from review.security import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, same_token, token_hash
from review.settings import ReviewSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid session: pages redirect to the login page, everything else gets 401."""


@dataclass(frozen=True)
class Signed:
    """The user behind a request, and the CSRF token their pages carry."""

    user: User
    csrf: str
    token_hash: str


def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger


def settings_of(request: Request) -> ReviewSettings:
    return request.app.state.settings


def signed_in(request: Request) -> Signed:
    token = request.cookies.get(SESSION_COOKIE)
    found = ledger_of(request).session_user(token_hash(token)) if token else None
    if found is None:
        raise NotSignedIn()
    user, csrf = found
    signed = Signed(user, csrf, token_hash(str(token)))
    request.state.signed = signed
    return signed


async def csrf_checked(request: Request,
                       signed: Annotated[Signed, Depends(signed_in)]) -> Signed:
    """Refuses a state-changing request whose CSRF token is not the session's."""
    if request.method in SAFE_METHODS:
        return signed
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not same_token(given, signed.csrf):
        raise HTTPException(403, "This form is missing its security token or it has expired. "
                                 "Reload the page and try again.")
    return signed


def admin(signed: Annotated[Signed, Depends(csrf_checked)]) -> Signed:
    if not signed.user.is_admin:
        raise HTTPException(403, "Only admins may do this.")
    return signed


Session = Annotated[Signed, Depends(csrf_checked)]
Admin = Annotated[Signed, Depends(admin)]
LedgerDep = Annotated[Ledger, Depends(ledger_of)]
SettingsDep = Annotated[ReviewSettings, Depends(settings_of)]
