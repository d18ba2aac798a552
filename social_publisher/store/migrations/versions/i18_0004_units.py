"""units: every unit-owned row carries unit_id; a database of one office becomes unit 'mac-dinh'

Revision ID: i18_0004
Revises: i17_0003
Create Date: 2026-12-03 06:40:00

Every row an older release made belongs to the one unit it served, the default unit
('mac-dinh'), except the console's session key, which is the install's (unit ''). Keys
that were unique in the install become unique in their unit: a post's folder, an agency's
id, a channel's health, a platform account's tokens, a ``meta`` fact.

On SQLite each table is rebuilt once (``batch_alter_table``) with foreign keys off on the
migration's connection (``store.db``): with them on, dropping the old ``posts`` would
cascade into every table that points at it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i18_0004"
down_revision: str | None = "i17_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_UNIT = "mac-dinh"
INSTALL = ""
SESSION_KEY = "web:session_key"
#: tables with unit_id in the primary key (no index of its own)
KEYED = {"agencies": "id", "channel_health": "channel", "meta": "key"}
OWNED = (
    "posts",
    "post_versions",
    "publications",
    "attempts",
    "engagement_snapshots",
    "agencies",
    "shares",
    "platform_tokens",
    "channel_health",
    "meta",
    "audit_log",
    "scan_cache",
    "approvals",
    "console_writes",
)


def upgrade() -> None:
    for table in OWNED:
        op.add_column(table, sa.Column("unit_id", sa.String(length=100), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET unit_id = :unit").bindparams(unit=DEFAULT_UNIT))
    op.execute(sa.text("UPDATE meta SET unit_id = :install WHERE key = :key").bindparams(
        install=INSTALL, key=SESSION_KEY
    ))  # fmt: skip
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("unit_id", sa.String(length=100), nullable=True))
    op.execute(sa.text("UPDATE alerts SET unit_id = :unit").bindparams(unit=DEFAULT_UNIT))

    _add_missing_version_key()
    # the share -> agency key becomes (unit, agency): drop it before agencies' key changes
    with op.batch_alter_table("shares") as batch:
        batch.drop_constraint("fk_shares_agency_id_agencies", type_="foreignkey")
    for table, column in KEYED.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column("unit_id", existing_type=sa.String(length=100), nullable=False)
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["unit_id", column])
    for table in OWNED:
        if table in KEYED:
            continue
        with op.batch_alter_table(table) as batch:
            batch.alter_column("unit_id", existing_type=sa.String(length=100), nullable=False)
            batch.create_index(f"ix_{table}_unit_id", ["unit_id"])
            if table == "posts":
                batch.drop_constraint("uq_posts_folder", type_="unique")
                batch.create_unique_constraint("uq_posts_unit_id", ["unit_id", "folder"])
            elif table == "platform_tokens":
                batch.drop_constraint("uq_platform_tokens_platform", type_="unique")
                batch.create_unique_constraint(
                    "uq_platform_tokens_unit_id", ["unit_id", "platform", "account"]
                )
            elif table == "shares":
                batch.create_foreign_key(
                    "fk_shares_unit_id_agencies",
                    "agencies",
                    ["unit_id", "agency_id"],
                    ["unit_id", "id"],
                    ondelete="CASCADE",
                )


def _add_missing_version_key() -> None:
    """0001 never made posts -> post_versions on PostgreSQL (Alembic dropped the deferred
    key): make it, after clearing any pointer to a version that does not exist."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    keys = sa.inspect(bind).get_foreign_keys("posts")
    if any(k["constrained_columns"] == ["current_version_id"] for k in keys):
        return
    op.execute(
        "UPDATE posts SET current_version_id = NULL WHERE current_version_id IS NOT NULL "
        "AND current_version_id NOT IN (SELECT id FROM post_versions)"
    )
    op.create_foreign_key(
        "fk_posts_current_version_id_post_versions",
        "posts",
        "post_versions",
        ["current_version_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    """Back to one unit: refused when the database holds rows of another unit."""
    bind = op.get_bind()
    others = bind.execute(
        sa.text("SELECT count(*) FROM posts WHERE unit_id <> :unit").bindparams(unit=DEFAULT_UNIT)
    ).scalar()
    if others:
        raise RuntimeError("the database holds posts of several units: it cannot be one again")
    for table in OWNED:
        op.execute(
            sa.text(f"DELETE FROM {table} WHERE unit_id NOT IN (:unit, :install)").bindparams(
                unit=DEFAULT_UNIT, install=INSTALL
            )
        )
    with op.batch_alter_table("shares") as batch:
        batch.drop_constraint("fk_shares_unit_id_agencies", type_="foreignkey")
    for table in OWNED:
        if table in KEYED:
            continue
        with op.batch_alter_table(table) as batch:
            if table == "posts":
                batch.drop_constraint("uq_posts_unit_id", type_="unique")
                batch.create_unique_constraint("uq_posts_folder", ["folder"])
            elif table == "platform_tokens":
                batch.drop_constraint("uq_platform_tokens_unit_id", type_="unique")
                batch.create_unique_constraint(
                    "uq_platform_tokens_platform", ["platform", "account"]
                )
            batch.drop_index(f"ix_{table}_unit_id")
            batch.drop_column("unit_id")
    for table, column in KEYED.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [column])
            batch.drop_column("unit_id")
    with op.batch_alter_table("shares") as batch:
        batch.create_foreign_key(
            "fk_shares_agency_id_agencies", "agencies", ["agency_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("unit_id")
