"""post_versions.video: the post's one video (file, hash, header values, probed facts)

Revision ID: i19_0003
Revises: i16_0002
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i19_0003"
down_revision: str | None = "i16_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("video", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.drop_column("video")
