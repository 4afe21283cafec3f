"""Alembic environment: migrations run on the connection the ledger hands over."""

from alembic import context

from manifests.ledger.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through manifests.ledger.Ledger.migrate()")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
if connection.dialect.name == "postgresql":
    # Several workers may start at once; one migrates, the others wait and find it done.
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
with context.begin_transaction():
    context.run_migrations()
