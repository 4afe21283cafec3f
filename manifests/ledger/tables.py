"""The ledger's SQL tables (SQLAlchemy 2 declarative). Alembic migrations create them.

The ledger is the single source of truth for resume decisions: every stage attempt is one row in
`stage_results`, never updated in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ClipRow(Base):
    __tablename__ = "clips"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    split_group: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(400), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20))  # running | completed | crashed
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StageResultRow(Base):
    __tablename__ = "stage_results"
    __table_args__ = (
        # One row per attempt: concurrent writers can never create two attempts with one number.
        UniqueConstraint("clip_id", "stage", "attempt", name="uq_stage_results_attempt"),
        Index("ix_stage_results_stage_clip", "stage", "clip_id"),
        Index("ix_stage_results_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    stage_version: Mapped[str] = mapped_column(String(40))
    config_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(200), default="")
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReviewRow(Base):
    """An annotator's decision. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_clip", "clip_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"))
    stage: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(20))  # confirm | override | requeue
    reason_code: Mapped[str | None] = mapped_column(String(60), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    annotator: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the verdict answered


class ReviewUserRow(Base):
    """An account of the review UI; never deleted (the audit names it), only deactivated."""

    __tablename__ = "review_users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))  # annotator | admin
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, never the password
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewSessionRow(Base):
    """A signed-in browser. Only the token's SHA-256 is stored: a leaked ledger opens nothing."""

    __tablename__ = "review_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("review_users.name"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewAuditRow(Base):
    """Who did what in the review UI. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "review_audit"
    __table_args__ = (Index("ix_review_audit_actor_action", "actor", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ShardRow(Base):
    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("dataset", "version", "name", name="uq_shards_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    samples: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShardMemberRow(Base):
    __tablename__ = "shard_members"

    shard_id: Mapped[int] = mapped_column(
        ForeignKey("shards.id", ondelete="CASCADE"), primary_key=True
    )
    sample_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    clip_id: Mapped[str] = mapped_column(ForeignKey("clips.id"), index=True)
