"""A staff API key may belong to one staff member (issue 10): it then works within that
person's queues and scope, and stops with their account.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_staff_id_staff'), 'staff', ['staff_id'], ['id'])


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_staff_id_staff'), type_='foreignkey')
        batch_op.drop_column('staff_id')
