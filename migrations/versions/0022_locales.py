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
    # Plain DROP COLUMN (SQLite 3.35+), not a batch copy: rebuilding `tickets` on SQLite
    # fails on the rows that point at it and would drop its search triggers.
    op.drop_column('tickets', 'locale')
    op.drop_column('customers', 'locale')
