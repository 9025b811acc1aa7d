"""Languages (issue 13): the language a portal customer chose, and the one a requester
wrote a ticket in, so the desk's mail to them is rendered in it.

Plain ALTER TABLE ADD COLUMN of nullable columns (no batch copy on SQLite): rows from
before have no language and are written to in English, as they were.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 17:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('customers', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('tickets', sa.Column('locale', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('customers') as batch_op:
        batch_op.drop_column('locale')
