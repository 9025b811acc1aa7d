"""A customer's orders newest first (issue 9: the portal's My orders and the API's order
list page by keyset on (created_at, id) within one customer).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_customer_created', ['customer_id', 'created_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_customer_created')
