"""Storage and scans (issue 11): the virus scan's state on each attachment, and privacy
exports named by their storage key (`exports/<id>-<token>.zip`) instead of a path on one
machine's disk.

The columns are added with plain ALTER TABLE ADD COLUMN (no batch table copy on SQLite;
no trigger names `attachments`). Attachments stored before stay without a scan state:
with scanning off they are served as before; `flask desk scan-attachments` scans them.

Written beside other branches' migrations: down_revision is re-chained when they merge.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 15:30:00

"""
import posixpath

from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

exports = sa.table('privacy_exports', sa.column('id', sa.Integer), sa.column('path', sa.String))


def upgrade():
    op.add_column('attachments', sa.Column('scan_state', sa.String(length=16), nullable=True))
    op.add_column('attachments', sa.Column('scan_result', sa.String(length=500), nullable=True))
    op.add_column('attachments', sa.Column('scanned_at', desk.types.UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_attachments_scan_state'), 'attachments', ['scan_state'], unique=False)
    # An export's file was EXPORT_DIR/<name>: its key is exports/<name> (the local
    # storage finds it in the same folder). A handful of rows: exports expire in days.
    bind = op.get_bind()
    for export_id, path in bind.execute(sa.select(exports.c.id, exports.c.path).where(
            exports.c.path.is_not(None), ~exports.c.path.startswith('exports/'))).all():
        name = posixpath.basename(path.replace('\\', '/'))
        bind.execute(exports.update().where(exports.c.id == export_id).values(path=f'exports/{name}'))


def downgrade():
    # Keys back to paths in the EXPORT_DIR of the app running the downgrade.
    from flask import current_app

    folder = current_app.config['EXPORT_DIR']
    bind = op.get_bind()
    for export_id, path in bind.execute(sa.select(exports.c.id, exports.c.path).where(
            exports.c.path.startswith('exports/'))).all():
        bind.execute(exports.update().where(exports.c.id == export_id).values(
            path=posixpath.join(folder, path.removeprefix('exports/'))))
    op.drop_index(op.f('ix_attachments_scan_state'), table_name='attachments')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('scanned_at')
        batch_op.drop_column('scan_result')
        batch_op.drop_column('scan_state')
