"""resident binding: one account per resident ID number (blind index)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "residentbinding",
        sa.Column("id_index", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id_index"),
    )
    with op.batch_alter_table("residentbinding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residentbinding_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("residentbinding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residentbinding_user_id"))
    op.drop_table("residentbinding")
