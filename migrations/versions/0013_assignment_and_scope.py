"""Assignment (issue 10): where each staff member works (queues), whether they see only
their own tickets, whether they are away, how many open tickets they may hold; and how
each queue's new tickets find an agent (manual, round robin, least loaded).

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03 15:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queues', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('own_only', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('away', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('max_open', sa.Integer(), nullable=True))
    op.create_table('queue_settings',
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('assignment', sa.String(length=16), nullable=False),
    sa.Column('last_assigned_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['last_assigned_id'], ['staff.id'], name=op.f('fk_queue_settings_last_assigned_id_staff'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('queue', name=op.f('pk_queue_settings'))
    )


def downgrade():
    op.drop_table('queue_settings')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('max_open')
        batch_op.drop_column('away')
        batch_op.drop_column('own_only')
        batch_op.drop_column('queues')
