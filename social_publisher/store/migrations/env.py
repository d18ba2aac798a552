"""Alembic environment: run against the engine the application hands over.

Everything happens in one transaction (see ``store.db``): on SQLite the engine
``Database`` hands over issues ``BEGIN IMMEDIATE``; on PostgreSQL a
transaction-level advisory lock comes first. Then a database half made by an
older release is dealt with, and only then does Alembic read the version.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from social_publisher.store.db import recover_half_made
from social_publisher.store.models import Base

config = context.config
target_metadata = Base.metadata
#: one lock per schema: processes migrating the same schema wait for each other
MIGRATION_LOCK = "social_publisher.migrate:"


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` command line: -x url=...
        engine = create_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
                {"key": MIGRATION_LOCK},
            )
        recover_half_made(
            connection,
            repair=bool(config.attributes.get("repair", False)),
            notes=config.attributes.setdefault("notes", []),
            place=str(config.attributes.get("place", "DATABASE_URL")),
        )
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
