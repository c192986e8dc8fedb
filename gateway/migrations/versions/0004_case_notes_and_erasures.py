"""case notes (free text sealed under the case key) and erasures

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "casenote",
        sa.Column("commitment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("commitment"),
    )
    with op.batch_alter_table("casenote", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casenote_case_id"), ["case_id"], unique=False)
    op.create_table(
        "erasure",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("erased_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("record_case", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason_commitment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("erasure")
    with op.batch_alter_table("casenote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casenote_case_id"))
    op.drop_table("casenote")
