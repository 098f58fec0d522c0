"""plan: record who made each plan (planned_by), so approval can require a second person

Nullable: plans made before this migration have no recorded maker; approving one is allowed with
a warning (see docs/writeback.md, Approve).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 21:30:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('planned_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('planned_by')
