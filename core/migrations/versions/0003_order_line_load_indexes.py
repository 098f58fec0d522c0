"""order_line: drop the product+location and customer indexes

The pull writes order lines a page at a time (a million and more per pull) and the engine reads
the table whole, so these two indexes served no query of segbridge while each page had to update
thousands of their pages: without them the load into SQLite runs at about 1.8x the rate. Add an
index of your own if you query order lines by product or customer outside segbridge.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:10:00
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_index('ix_order_line_product_location')
        batch_op.drop_index('ix_order_line_customer')


def downgrade() -> None:
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.create_index('ix_order_line_customer', ['customer_id'], unique=False)
        batch_op.create_index('ix_order_line_product_location', ['product_id', 'location_id'], unique=False)
