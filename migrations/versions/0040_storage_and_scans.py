"""Storage and scans (issue 11): privacy exports named by their storage key
(`exports/<id>-<token>.zip`) instead of a path on one machine's disk.

Written beside other branches' migrations: down_revision is re-chained when they merge.

Revision ID: 0040
Revises: 0018
Create Date: 2026-12-03 15:30:00

"""
import posixpath

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0040'
down_revision = '0018'
branch_labels = None
depends_on = None

exports = sa.table('privacy_exports', sa.column('id', sa.Integer), sa.column('path', sa.String))


def upgrade():
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
