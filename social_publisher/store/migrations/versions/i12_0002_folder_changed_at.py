"""posts.folder_changed_at: when the queue last saw the post's folder change

Revision ID: i12_0002
Revises: i11_0002
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import social_publisher.store.models

revision: str = "i12_0002"
down_revision: str | None = "i11_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "folder_changed_at", social_publisher.store.models.UTCDateTime(), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("folder_changed_at")
