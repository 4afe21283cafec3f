"""The review UI's accounts, signed-in sessions and audit log.

Passwords arrive here already hashed (argon2id, by the review app) and session tokens as their
SHA-256: the ledger never holds a secret that opens the UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from manifests.errors import LedgerError
from manifests.ledger.store import LedgerStore, utc
from manifests.ledger.tables import ReviewAuditRow, ReviewSessionRow, ReviewUserRow

ROLES = ("annotator", "admin")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    active: bool
    created_at: datetime
    password_hash: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AccessQueries(LedgerStore):
    """Users, sessions and the audit log of the review UI."""

    def add_user(self, name: str, role: str, password_hash: str) -> User:
        """Creates an account, or sets the role and password of an existing one (and activates it).

        Raises:
            LedgerError: the role is not one of `ROLES`.
        """
        if role not in ROLES:
            raise LedgerError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        now = datetime.now(UTC)

        def write(session: Session) -> User:
            row = session.get(ReviewUserRow, name, with_for_update=True)
            if row is None:
                row = ReviewUserRow(name=name, created_at=now)
                session.add(row)
            row.role, row.password_hash, row.active = role, password_hash, True
            session.flush()
            return _user(row)

        return self._write(write)

    def user(self, name: str) -> User | None:
        with self.session() as session:
            row = session.get(ReviewUserRow, name)
            return _user(row) if row else None

    def users(self) -> list[User]:
        with self.session() as session:
            return [_user(r) for r in session.scalars(select(ReviewUserRow)
                                                      .order_by(ReviewUserRow.name))]

    def set_user_active(self, name: str, active: bool) -> None:
        """Deactivates (or reactivates) an account; a deactivated one's sessions end at once."""

        def write(session: Session) -> None:
            session.execute(update(ReviewUserRow).where(ReviewUserRow.name == name)
                            .values(active=active))
            if not active:
                session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.user == name))

        self._write(write)

    def open_session(self, token_hash: str, user: str, csrf_token: str,
                     expires_at: datetime) -> None:
        now = datetime.now(UTC)

        def write(session: Session) -> None:
            session.execute(delete(ReviewSessionRow).where(ReviewSessionRow.expires_at < now))
            session.add(ReviewSessionRow(token_hash=token_hash, user=user, csrf_token=csrf_token,
                                         created_at=now, expires_at=expires_at))

        self._write(write)

    def session_user(self, token_hash: str) -> tuple[User, str] | None:
        """The active user signed in with this token and the session's CSRF token, if unexpired."""
        with self.session() as session:
            found = session.execute(
                select(ReviewUserRow, ReviewSessionRow.csrf_token, ReviewSessionRow.expires_at)
                .join(ReviewSessionRow, ReviewSessionRow.user == ReviewUserRow.name)
                .where(ReviewSessionRow.token_hash == token_hash)
            ).first()
        if found is None:
            return None
        row, csrf, expires = found
        if not row.active or utc(expires) <= datetime.now(UTC):
            return None
        return _user(row), csrf

    def close_session(self, token_hash: str) -> None:
        self._write(lambda s: s.execute(
            delete(ReviewSessionRow).where(ReviewSessionRow.token_hash == token_hash)))

    def audit(self, actor: str, action: str, target: str = "",
              detail: dict[str, Any] | None = None) -> None:
        """Appends one line to the audit log (never changed or deleted afterwards)."""
        self._write(lambda s: s.add(ReviewAuditRow(at=datetime.now(UTC), actor=actor,
                                                   action=action, target=target,
                                                   detail=detail or {})))

    def audit_log(self, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        """The newest audit lines first."""
        with self.session() as session:
            rows = session.scalars(select(ReviewAuditRow).order_by(ReviewAuditRow.id.desc())
                                   .limit(limit).offset(offset))
            return [AuditEntry(utc(r.at), r.actor, r.action, r.target, dict(r.detail or {}))
                    for r in rows]

    def audit_count(self, actor: str, action: str, since: datetime) -> int:
        """How often `actor` did `action` since then: the login rate limit reads failures."""
        with self.session() as session:
            return session.scalar(
                select(func.count()).select_from(ReviewAuditRow).where(
                    ReviewAuditRow.actor == actor, ReviewAuditRow.action == action,
                    ReviewAuditRow.at >= since)) or 0


def _user(row: ReviewUserRow) -> User:
    return User(row.name, row.role, row.active, utc(row.created_at), row.password_hash)
