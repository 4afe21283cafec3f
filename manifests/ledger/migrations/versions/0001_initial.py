"""Initial ledger: clips, runs, stage_results, reviews (append-only), shards, shard_members.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER reviews_append_only_{op} BEFORE {op} ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END
"""
_APPEND_ONLY_POSTGRES_FUNCTION = """
CREATE FUNCTION reviews_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'reviews are append-only'; END $$ LANGUAGE plpgsql
"""
_APPEND_ONLY_POSTGRES_TRIGGER = """
CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews
FOR EACH ROW EXECUTE FUNCTION reviews_append_only()
"""


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "clips",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("split_group", sa.String(200), nullable=False),
        sa.Column("source", sa.String(400), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", when, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", when, nullable=False),
        sa.Column("finished_at", when, nullable=True),
    )
    op.create_table(
        "stage_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("clip_id", sa.String(200), sa.ForeignKey("clips.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("stage_version", sa.String(40), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(60), nullable=True),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("started_at", when, nullable=False),
        sa.Column("finished_at", when, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("clip_id", "stage", "attempt", name="uq_stage_results_attempt"),
    )
    op.create_index("ix_stage_results_stage_clip", "stage_results", ["stage", "clip_id"])
    op.create_index("ix_stage_results_run", "stage_results", ["run_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("clip_id", sa.String(200), sa.ForeignKey("clips.id"), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(60), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("annotator", sa.String(100), nullable=False),
        sa.Column("created_at", when, nullable=False),
    )
    op.create_index("ix_reviews_clip", "reviews", ["clip_id"])
    op.create_table(
        "shards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.UniqueConstraint("dataset", "version", "name", name="uq_shards_name"),
    )
    op.create_table(
        "shard_members",
        sa.Column("shard_id", sa.Integer, sa.ForeignKey("shards.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("sample_key", sa.String(300), primary_key=True),
        sa.Column("clip_id", sa.String(200), sa.ForeignKey("clips.id"), nullable=False),
    )
    op.create_index("ix_shard_members_clip_id", "shard_members", ["clip_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_POSTGRES_FUNCTION)
        op.execute(_APPEND_ONLY_POSTGRES_TRIGGER)
    else:
        op.execute(_APPEND_ONLY_SQLITE.format(op="UPDATE"))
        op.execute(_APPEND_ONLY_SQLITE.format(op="DELETE"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS reviews_append_only ON reviews")
        op.execute("DROP FUNCTION IF EXISTS reviews_append_only()")
    for table in ("shard_members", "shards", "reviews", "stage_results", "runs", "clips"):
        op.drop_table(table)
