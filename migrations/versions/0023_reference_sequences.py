"""Ticket references from PostgreSQL sequences (issue 11): one SEQUENCE per year,
`ticket_reference_YY`, replaces bumping the year's `ticket_sequences` row, whose lock every
intake held until its commit (intake ran one ticket at a time). Each year counted so far
gets its sequence going on from its row; a later year's is created on first use
(desk.tickets.services.next_reference). SQLite keeps the row (one writer anyway): nothing
changes there.

Down: each sequence's last value goes back into its year's row, and the sequences go.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 21:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

sequences = sa.table('ticket_sequences', sa.column('year', sa.Integer), sa.column('last', sa.Integer))


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    for year, last in bind.execute(sa.select(sequences.c.year, sequences.c.last)).all():
        bind.exec_driver_sql(f"CREATE SEQUENCE IF NOT EXISTS ticket_reference_{int(year):02d} "
                             f"START WITH {int(last or 0) + 1}")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    found = bind.exec_driver_sql(
        "SELECT sequencename, coalesce(last_value, start_value - 1) FROM pg_sequences "
        "WHERE schemaname = current_schema() AND sequencename ~ '^ticket_reference_[0-9]{2}$'").all()
    for name, last in found:
        year = int(name.rsplit('_', 1)[1])
        if bind.execute(sa.select(sequences.c.year).where(sequences.c.year == year)).first() is None:
            bind.execute(sequences.insert().values(year=year, last=last))
        else:
            bind.execute(sequences.update().where(sequences.c.year == year).values(last=last))
        bind.exec_driver_sql(f"DROP SEQUENCE {name}")
