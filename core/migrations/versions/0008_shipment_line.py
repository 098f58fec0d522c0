"""shipment_line table (issue 20: fill rate and OTIF from line-level shipments)

The canonical `shipment` is order-level, so from the store a partial delivery could not be seen and
OTIF "in full" was true for every shipped order. `shipment_line` holds the quantity of one order
line that left with a shipment (partial deliveries are several rows of one order line); the KPIs
read it where present and fall back to order-level shipments for orders without lines.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 04:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shipment_line',
        sa.Column('source_system', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('loaded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('shipment_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('line_no', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('order_line_no', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('product_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('location_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column('quantity', sa.Float(), nullable=False),
        sa.Column('ship_date', sa.Date(), nullable=True),
        sa.Column('delivery_date', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('shipment_id', 'line_no'))


def downgrade() -> None:
    op.drop_table('shipment_line')
