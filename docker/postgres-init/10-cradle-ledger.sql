-- Run once, when the postgres service starts on an empty volume: Prefect's tables go in the
-- database POSTGRES_DB (prefect), Cradle's ledger in its own, since both keep an alembic_version
-- table.
CREATE DATABASE cradle;
