"""The customer portal's sign-in (issue 9): the tokens already used (a single sign-on
nonce, a mailed link), unique so the same one twice is refused, and customers.portal_epoch,
which "sign out everywhere" raises.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:45:00.170880

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spent_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('jti', sa.String(length=128), nullable=False),
    sa.Column('expires_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('spent_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spent_tokens')),
    sa.UniqueConstraint('kind', 'jti', name=op.f('uq_spent_tokens_kind'))
    )
    with op.batch_alter_table('spent_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_tokens_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('portal_epoch', sa.Integer(), server_default='0', nullable=False))
    # 0006 rebuilt customers on SQLite (its Boolean columns' CHECKs) and lost the expression
    # index 0004 made; the portal's sign-in form looks accounts up by lower(email) on every
    # request, so it comes back here. (PostgreSQL kept it: IF NOT EXISTS makes this a no-op.)
    op.execute("CREATE INDEX IF NOT EXISTS ix_customers_email_lower ON customers (lower(email))")


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('portal_epoch')
    # Dropping a column rebuilds customers on SQLite, without the expression index 0004 made; put it back.
    op.execute("CREATE INDEX IF NOT EXISTS ix_customers_email_lower ON customers (lower(email))")

    with op.batch_alter_table('spent_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_tokens_expires_at'))

    op.drop_table('spent_tokens')
