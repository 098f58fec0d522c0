"""run.owner: the process (host:pid:uuid) that started a run (issue 17 item 9)

A run still `running` whose owner process is gone is marked `interrupted` by the next command
(`core.runs.mark_interrupted`); this column says which process that was. Nullable: runs recorded
before this revision have no owner and are left as they are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('owner')
