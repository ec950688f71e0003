"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context

import cache_webhook
from api_server.storage.engine import build_engine
from api_server.storage.rows import Base
from metadata_store.rows import MetadataBase

config = context.config
# Every component's tables, one Alembic tree (the metadata store may live in its own database,
# which then holds the whole schema too: one revision history for every database).
target_metadata = [Base.metadata, cache_webhook.metadata, MetadataBase.metadata]


def run_migrations_online() -> None:
    engine = build_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; use `headrace migrate`")
run_migrations_online()
