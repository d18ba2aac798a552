"""Alembic environment: run against the engine the application hands over.

Everything happens in one transaction (see ``store.db``): on SQLite the engine
``Database`` hands over issues ``BEGIN IMMEDIATE``; on PostgreSQL a
transaction-level advisory lock comes first. Then a database half made by an
older release is dealt with, and only then does Alembic read the version.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine, inspect, text

from social_publisher.store.db import recover_half_made
from social_publisher.store.models import Base

config = context.config
target_metadata = Base.metadata
#: one lock per schema: processes migrating the same schema wait for each other
MIGRATION_LOCK = "social_publisher.migrate:"
#: how long a migration waits for a table that running workers use (PostgreSQL)
MIGRATION_LOCK_WAIT = "30s"


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
            # Workers of the older release may be running: each DDL waits this long for
            # their table locks, then the whole migration rolls back (never half made).
            connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_WAIT}'"))
        recover_half_made(
            connection,
            repair=bool(config.attributes.get("repair", False)),
            notes=config.attributes.setdefault("notes", []),
            place=str(config.attributes.get("place", "DATABASE_URL")),
        )
        fresh = not set(inspect(connection).get_table_names()) - {"alembic_version"}
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        head = context.script.get_current_head()
        if fresh and context.get_revision_argument() in ("head", "heads", head):
            # A new database is made from the models in one go, then stamped: replaying
            # every migration rebuilds tables on SQLite for nothing. A test keeps the two
            # ways to the same schema (tests/foundation/test_units_migration.py).
            # on a copy: creating the deferred posts -> post_versions key on PostgreSQL
            # marks the model's own constraint "made by ALTER", and SQLite (no ALTER) would
            # then leave it out of CREATE TABLE
            copy = MetaData(naming_convention=target_metadata.naming_convention)
            for table in target_metadata.sorted_tables:
                table.to_metadata(copy)
            copy.create_all(connection)
            context.get_context().stamp(context.script, "head")
        else:
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
            if broken is not None:  # rolls the whole migration back
                raise RuntimeError(f"a migration broke a foreign key: {tuple(broken)}")


run_migrations_online()
