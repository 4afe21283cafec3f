"""Admins: manage accounts and read the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from review.deps import Admin, LedgerDep
from review.pages import render
from review.security import hash_password

router = APIRouter(prefix="/admin")
AUDIT_PAGE = 100
USER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
UserName = Annotated[str, Form(pattern=USER_NAME)]


@router.get("/users")
def users(request: Request, session: Admin, ledger: LedgerDep) -> Response:
    return render(request, "users.html", users=ledger.users(), error=None)


@router.post("/users")
def add_user(request: Request, session: Admin, ledger: LedgerDep, name: UserName,
             role: Annotated[Literal["annotator", "admin"], Form()],
             password: Annotated[str, Form(max_length=1000)]) -> Response:
    try:
        password_hash = hash_password(password)
    except ValueError as e:
        return render(request, "users.html", 422, users=ledger.users(), error=str(e))
    ledger.add_user(name, role, password_hash)
    ledger.audit(session.user.name, "user_saved", name, {"role": role})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{name}/active")
def set_active(session: Admin, ledger: LedgerDep,
               name: Annotated[str, Path(pattern=USER_NAME)],
               active: Annotated[bool, Form()]) -> Response:
    ledger.set_user_active(name, active)
    ledger.audit(session.user.name, "user_activated" if active else "user_deactivated", name)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/audit")
def audit(request: Request, session: Admin, ledger: LedgerDep,
          page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    entries = ledger.audit_log(AUDIT_PAGE, (page - 1) * AUDIT_PAGE)
    return render(request, "audit.html", entries=entries, page=page,
                  more=len(entries) == AUDIT_PAGE)
