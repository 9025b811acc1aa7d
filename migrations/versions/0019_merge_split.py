"""Merge and split (issue 10): a merged ticket points at the ticket it was merged into, and
each merge or split keeps what it moved, so it can be undone exactly within the window.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 10:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # A plain ADD COLUMN with its REFERENCES clause, which SQLite takes as it is. (A batch
        # would copy the table, and dropping the old copy with foreign keys on would cascade
        # to every message; it would also lose the expression index on requester_email.)
        op.execute('ALTER TABLE tickets ADD COLUMN merged_into_id INTEGER REFERENCES tickets (id)')
    else:
        op.add_column('tickets', sa.Column('merged_into_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_tickets_merged_into_id_tickets'), 'tickets', 'tickets', ['merged_into_id'],
                              ['id'])
    op.create_index(op.f('ix_tickets_merged_into_id'), 'tickets', ['merged_into_id'], unique=False)
    op.create_table('ticket_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('cross_party', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('undone_at', desk.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['tickets.id'], name=op.f('fk_ticket_moves_source_id_tickets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['tickets.id'], name=op.f('fk_ticket_moves_target_id_tickets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_ticket_moves_staff_id_staff')),
    sa.ForeignKeyConstraint(['undone_by_id'], ['staff.id'], name=op.f('fk_ticket_moves_undone_by_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_moves'))
    )
    with op.batch_alter_table('ticket_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_moves_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_moves_target_id'), ['target_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_moves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_moves_target_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_moves_source_id'))
    op.drop_table('ticket_moves')
    op.drop_index(op.f('ix_tickets_merged_into_id'), table_name='tickets')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tickets DROP COLUMN merged_into_id')  # SQLite 3.35+, no copy
    else:
        op.drop_constraint(op.f('fk_tickets_merged_into_id_tickets'), 'tickets', type_='foreignkey')
        op.drop_column('tickets', 'merged_into_id')
