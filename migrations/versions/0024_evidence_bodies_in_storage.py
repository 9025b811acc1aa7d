"""Evidence snapshot documents in storage (issue 11): `evidence_snapshots.body` (the whole
canonical JSON in a text column, read back whole to be stored, verified and served) goes;
the document is an object in desk.storage, `evidence/<abuse|billing>/<case id>/<seq>-<sha256>.json`,
written once, and the row keeps its key (`body_key`), `size` (as before) and hashes.

Up: every existing body is written out to storage first (under the key named after the
SHA-256 of its bytes: an erasure's redacted body under its own digest; written again with
the same bytes if an earlier, failed run of this migration wrote it already), one row at a
time; only then does the table change (body_key filled, body dropped), so a storage that
fails leaves the database as it was. The old rows are then read the one new way: nothing
keeps a body in the row, and no code path reads one.

The write-once triggers are rebuilt (PostgreSQL: desk_redact_once with the new redactable
columns; SQLite: the table is rebuilt without `body`, which drops its triggers): UPDATE is
refused except an erasure's redaction, which may change only body_key and size (a new,
pseudonymised object) while setting a new `redaction`; key, hashes, number, case and time
are fixed otherwise. DELETE stays refused.

Down: each object is read back into `body` (a missing object stops the downgrade: it
cannot be made up); the objects stay in storage.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 02:20:00

"""
import hashlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

TABLE = 'evidence_snapshots'
snapshots = sa.table(TABLE, sa.column('id', sa.Integer), sa.column('case_id', sa.Integer),
                     sa.column('billing_case_id', sa.Integer), sa.column('seq', sa.Integer),
                     sa.column('body', sa.Text), sa.column('body_key', sa.String))
# What an erasure may rewrite (0006 allowed body and size); every other column is fixed.
REDACTABLE = ('body_key', 'size')
REDACTABLE_BEFORE = ('body', 'size')
FIXED = ('id', 'case_id', 'billing_case_id', 'seq', 'reason', 'sha256', 'prev_sha256', 'taken_at')
MESSAGE = f'{TABLE} is write-once'


def _storage():
    from desk.storage import get_storage

    return get_storage()  # the app running the migration (flask db upgrade, the tests' fixture)


def upgrade():
    from desk.abuse.evidence import key_of

    bind = op.get_bind()
    storage = _storage()
    keys = {}
    rows = bind.execute(sa.select(snapshots.c.id, snapshots.c.case_id, snapshots.c.billing_case_id,
                                  snapshots.c.seq).order_by(snapshots.c.id)).all()
    for row in rows:  # one body in memory at a time
        data = bind.execute(sa.select(snapshots.c.body).where(snapshots.c.id == row.id)).scalar_one().encode('utf-8')
        kind, owner = ('billing', row.billing_case_id) if row.billing_case_id is not None else ('abuse', row.case_id)
        keys[row.id] = key_of(kind, owner, row.seq, hashlib.sha256(data).hexdigest())
        # Not exclusive: the key names these very bytes, so a key an earlier failed run
        # wrote is written again with the same content.
        storage.put(keys[row.id], data, private=True)
    _drop_triggers()
    op.add_column(TABLE, sa.Column('body_key', sa.String(length=255), nullable=True))
    for snapshot_id, key in keys.items():
        bind.execute(snapshots.update().where(snapshots.c.id == snapshot_id).values(body_key=key))
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column('body')
        batch_op.alter_column('body_key', existing_type=sa.String(length=255), nullable=False)
    _triggers(REDACTABLE)


def downgrade():
    from desk.storage import Missing

    bind = op.get_bind()
    storage = _storage()
    _drop_triggers()
    op.add_column(TABLE, sa.Column('body', sa.Text(), nullable=True))
    for snapshot_id, key in bind.execute(sa.select(snapshots.c.id, snapshots.c.body_key)
                                         .order_by(snapshots.c.id)).all():
        try:
            with storage.open(key) as fh:
                body = fh.read().decode('utf-8')
        except Missing:
            raise RuntimeError(f'evidence snapshot {snapshot_id}: its document {key} is not in storage; '
                               'the downgrade cannot put its body back') from None
        bind.execute(snapshots.update().where(snapshots.c.id == snapshot_id).values(body=body))
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column('body_key')
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
    _triggers(REDACTABLE_BEFORE)


def _triggers(redactable):
    """0006's rule with these redactable columns: an UPDATE passes only as a redaction."""
    if op.get_bind().dialect.name == 'postgresql':
        args = ', '.join(f"'{c}'" for c in (*redactable, 'redaction'))
        op.execute(f"""CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
                       FOR EACH ROW EXECUTE FUNCTION desk_redact_once({args})""")
        return
    same = ' AND '.join(f'NEW.{c} IS OLD.{c}' for c in FIXED)
    op.execute(f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
                   WHEN NOT (NEW.redaction IS NOT NULL AND NEW.redaction IS NOT OLD.redaction AND {same})
                   BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")
    op.execute(f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
                   BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def _drop_triggers():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}')
        return
    op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_no_update')
    op.execute(f'DROP TRIGGER IF EXISTS {TABLE}_no_delete')
