"""Agent productivity (issue 10): macros (canned replies per queue with their actions),
satisfaction surveys (one per ticket, with the requester's answer), and an index on
outbound_mail by lower(to_addr) and created_at, which the auto-reply cap counts with.

Written beside 0011 (another branch): down_revision is re-chained when they merge.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('macros',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('set_status', sa.String(length=16), nullable=True),
    sa.Column('add_tags', sa.JSON(), nullable=False),
    sa.Column('assign', sa.String(length=8), server_default='', nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('claim_outcome', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['staff.id'], name=op.f('fk_macros_assignee_id_staff')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], name=op.f('fk_macros_created_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_macros'))
    )
    with op.batch_alter_table('macros', schema=None) as batch_op:
        batch_op.create_index('ix_macros_active_queue', ['active', 'queue'], unique=False)

    op.create_table('csat_surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=32), nullable=False),
    sa.Column('sent_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rating', sa.String(length=8), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('answered_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['staff.id'], name=op.f('fk_csat_surveys_agent_id_staff')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_csat_surveys_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_surveys')),
    sa.UniqueConstraint('ticket_id', name=op.f('uq_csat_surveys_ticket_id'))
    )
    with op.batch_alter_table('csat_surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_csat_surveys_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index('ix_csat_surveys_answered_queue', ['answered_at', 'queue'], unique=False)

    # An expression index (as 0004's ix_customers_email_lower), written out for both databases.
    op.execute("CREATE INDEX ix_outbound_mail_to_lower_created ON outbound_mail (lower(to_addr), created_at)")


def downgrade():
    op.execute("DROP INDEX ix_outbound_mail_to_lower_created")
    with op.batch_alter_table('csat_surveys', schema=None) as batch_op:
        batch_op.drop_index('ix_csat_surveys_answered_queue')
        batch_op.drop_index(batch_op.f('ix_csat_surveys_agent_id'))

    op.drop_table('csat_surveys')
    with op.batch_alter_table('macros', schema=None) as batch_op:
        batch_op.drop_index('ix_macros_active_queue')

    op.drop_table('macros')
