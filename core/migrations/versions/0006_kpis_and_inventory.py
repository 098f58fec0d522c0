"""kpi_value and inventory_snapshot tables (issue 20: segment KPIs and governance dashboards)

`kpi_value` holds the KPIs computed for a segment run, one row per (run, segment, KPI, period, scope),
so a trend is a query. `inventory_snapshot` holds on-hand per product-location and date, pulled
where a mapping provides it (target `inventory_snapshot`); turns, days of supply, excess and
stockout value need it and are stored as unavailable without it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 01:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inventory_snapshot',
    sa.Column('source_system', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('loaded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('product_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('location_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('snapshot_date', sa.Date(), nullable=False),
    sa.Column('on_hand', sa.Float(), nullable=False),
    sa.Column('unit_cost', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('product_id', 'location_id', 'snapshot_date')
    )
    op.create_table('kpi_value',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('numerator', sa.Float(), nullable=True),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('computed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'segment', 'kpi', 'period', 'scope')
    )


def downgrade() -> None:
    op.drop_table('kpi_value')
    op.drop_table('inventory_snapshot')
