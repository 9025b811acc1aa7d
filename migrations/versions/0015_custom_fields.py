"""Custom fields per ticket kind (issue 10): their definitions and each ticket's values,
indexed by (field, value) for the queue's filter.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-03 16:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('custom_fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_fields'))
    )
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.create_index('uq_custom_fields_key', ['key'], unique=True)
    op.create_table('ticket_field_values',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_ticket_field_values_field_id_custom_fields'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_field_values_ticket_id_tickets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'field_id', name=op.f('pk_ticket_field_values'))
    )
    with op.batch_alter_table('ticket_field_values', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_field_values_field_value', ['field_id', 'value'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_field_values', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_field_values_field_value')
    op.drop_table('ticket_field_values')
    with op.batch_alter_table('custom_fields', schema=None) as batch_op:
        batch_op.drop_index('uq_custom_fields_key')
    op.drop_table('custom_fields')
