"""The review UI: which verdict a review answers, annotator accounts, sessions and the audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER review_audit_append_only_{op} BEFORE {op} ON review_audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""
_APPEND_ONLY_POSTGRES_FUNCTION = """
CREATE FUNCTION review_audit_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql
"""
_APPEND_ONLY_POSTGRES_TRIGGER = """
CREATE TRIGGER review_audit_append_only BEFORE UPDATE OR DELETE ON review_audit
FOR EACH ROW EXECUTE FUNCTION review_audit_append_only()
"""


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    # The attempt of `stage` the decision answers (NULL for reviews written before 0002).
    op.add_column("reviews", sa.Column("attempt", sa.Integer, nullable=True))
    op.create_table(
        "review_users",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", when, nullable=False),
    )
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(100), sa.ForeignKey("review_users.name"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
    )
    op.create_table(
        "review_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", when, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_review_audit_actor_action", "review_audit", ["actor", "action", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_POSTGRES_FUNCTION)
        op.execute(_APPEND_ONLY_POSTGRES_TRIGGER)
    else:
        op.execute(_APPEND_ONLY_SQLITE.format(op="UPDATE"))
        op.execute(_APPEND_ONLY_SQLITE.format(op="DELETE"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS review_audit_append_only ON review_audit")
        op.execute("DROP FUNCTION IF EXISTS review_audit_append_only()")
    for table in ("review_audit", "review_sessions", "review_users"):
        op.drop_table(table)
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("attempt")
