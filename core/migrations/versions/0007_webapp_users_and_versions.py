"""web app: users, API tokens, sessions, exception comments; versions on exceptions and plan lines

Issue 19 (`segbridge serve`): local users with one role and an argon2 password hash, API tokens
(only their SHA-256 kept), browser sessions (the SHA-256 of the cookie's id and its CSRF token),
comments on exceptions. `version` on `recon_exception` and `planned_change` is raised by every
change so a stale update (two stewards on one row) is refused; `planned_change.review` records a
reviewer's per-line approve/reject. Two indexes serve the first page of the exception queue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'))
    op.create_table('api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'))
    op.create_table('web_session',
        sa.Column('id_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('csrf', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id_hash'))
    op.create_table('exception_comment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exception_id', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_comment_exception', 'exception_comment', ['exception_id'], unique=False)
    with op.batch_alter_table('recon_exception', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_index('ix_exception_queue', ['last_seen', 'id'], unique=False)
        batch_op.create_index('ix_exception_status_queue', ['status', 'last_seen', 'id'], unique=False)
    with op.batch_alter_table('planned_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('planned_change', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('review')
    with op.batch_alter_table('recon_exception', schema=None) as batch_op:
        batch_op.drop_index('ix_exception_status_queue')
        batch_op.drop_index('ix_exception_queue')
        batch_op.drop_column('version')
    op.drop_index('ix_comment_exception', table_name='exception_comment')
    op.drop_table('exception_comment')
    op.drop_table('web_session')
    op.drop_table('api_token')
    op.drop_table('app_user')
