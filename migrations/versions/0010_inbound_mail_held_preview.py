"""A held reply's preview kept on its row (inbound_mail.preview): the ticket page showed
the start of each held reply's text by parsing its raw bytes again on every view; it is now
written once, when the reply is held. Replies already held are given theirs here, read by
the desk's own reader (desk.mail.parse.preview), so the page shows the same words as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

from desk.mail import parse


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

inbound_mail = sa.table('inbound_mail', sa.column('id', sa.Integer()), sa.column('status', sa.String()),
                        sa.column('raw', sa.LargeBinary()), sa.column('preview', sa.Text()))


def upgrade():
    with op.batch_alter_table('inbound_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview', sa.Text(), nullable=True))

    conn = op.get_bind()
    held = conn.execute(sa.select(inbound_mail.c.id).where(
        inbound_mail.c.status == 'held', inbound_mail.c.raw.is_not(None))).scalars().all()
    for inbound_id in held:  # one at a time: each raw message may be up to MAIL_MAX_BYTES
        raw = conn.execute(sa.select(inbound_mail.c.raw).where(inbound_mail.c.id == inbound_id)).scalar_one()
        conn.execute(sa.update(inbound_mail).where(inbound_mail.c.id == inbound_id).values(
            preview=parse.preview(raw)))


def downgrade():
    with op.batch_alter_table('inbound_mail', schema=None) as batch_op:
        batch_op.drop_column('preview')
