"""Panel integration (issue 12): the calls the desk makes to the panel's API v2 about a
ticket's order (panel_calls, one per claim and action), the runs of the status refresh
(panel_refreshes), and webhooks out: endpoints, events and deliveries with their attempts.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 14:39:48

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('uid', name=op.f('uq_webhook_events_uid'))
    )
    op.create_table('panel_refreshes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['requested_by_id'], ['staff.id'], name=op.f('fk_panel_refreshes_requested_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_refreshes'))
    )
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], name=op.f('fk_webhook_endpoints_created_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_response', sa.Text(), nullable=True),
    sa.Column('next_retry_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('log', sa.JSON(), nullable=False),
    sa.Column('resend_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], name=op.f('fk_webhook_deliveries_event_id_webhook_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resend_of_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_deliveries_resend_of_id_webhook_deliveries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_endpoint_id', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_status_next', ['status', 'next_retry_at'], unique=False)
    op.create_table('panel_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('order_ref', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=True),
    sa.Column('rule', sa.String(length=40), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('maybe_done', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('refill_id', sa.String(length=64), nullable=True),
    sa.Column('refill_status', sa.String(length=40), nullable=True),
    sa.Column('polls', sa.Integer(), nullable=False),
    sa.Column('next_poll_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_panel_calls_claim_id_claims'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['staff.id'], name=op.f('fk_panel_calls_requested_by_id_staff')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_panel_calls_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_calls')),
    sa.UniqueConstraint('key', name=op.f('uq_panel_calls_key'))
    )
    with op.batch_alter_table('panel_calls', schema=None) as batch_op:
        batch_op.create_index('ix_panel_calls_status_next_poll', ['status', 'next_poll_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_calls_ticket_id'), ['ticket_id'], unique=False)


def downgrade():
    with op.batch_alter_table('panel_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panel_calls_ticket_id'))
        batch_op.drop_index('ix_panel_calls_status_next_poll')
    op.drop_table('panel_calls')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_status_next')
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_event_id'))
        batch_op.drop_index('ix_webhook_deliveries_endpoint_id')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
    op.drop_table('panel_refreshes')
    op.drop_table('webhook_events')
