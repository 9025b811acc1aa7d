"""The search refresh keeps its plan (issue 11, PostgreSQL).

`desk_ticket_search_refresh(ids)` was a LANGUAGE sql function. PostgreSQL cannot inline a
SQL function that writes, and it keeps no plan of one between calls: every call parsed,
analysed and planned its INSERT … SELECT over the view `ticket_search_source` (tickets,
orders, a lateral aggregate of messages) anew. Every intake calls it once, from the
messages' trigger; perf on the bench's PostgreSQL backends put a quarter of their CPU in
that function, most of it in the parser and the planner.

In PL/pgSQL a statement's plan can be kept per connection (SPI's plan cache). The one
ticket of an intake (and of most edits) is refreshed by a statement on `ticket_id = $1`,
planned once and reused: the function runs with plan_cache_mode = force_generic_plan, as
left to itself PostgreSQL went on making a custom plan at every call (0.55 ms a call
against 0.29 ms with the kept one, in psql on the bench database). Many tickets at once
(an order's link changed, an erasure, a bulk update) take the set-based statement through
EXECUTE, planned for their array each time as before; none (an UPDATE that changed no
searched column) runs nothing. Same arguments, same result: the triggers that call it are
unchanged.

SQLite has no such function (row triggers): nothing changes there.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 14:30:00

"""
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

UPSERT = """
    INSERT INTO ticket_search (ticket_id, document)
    SELECT ticket_id, document FROM ticket_search_source WHERE {where}
    ON CONFLICT (ticket_id) DO UPDATE SET document = EXCLUDED.document"""

PLPGSQL = f"""CREATE OR REPLACE FUNCTION desk_ticket_search_refresh(ids integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF cardinality(ids) = 1 THEN{UPSERT.format(where="ticket_id = ids[1]")};
    ELSIF cardinality(ids) > 1 THEN
        EXECUTE '{UPSERT.format(where="ticket_id = ANY ($1)").strip()}' USING ids;
    END IF;
END $$"""

SQL = f"""CREATE OR REPLACE FUNCTION desk_ticket_search_refresh(ids integer[]) RETURNS void
LANGUAGE sql AS $${UPSERT.format(where="ticket_id = ANY (ids)")}
$$"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(PLPGSQL)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("ALTER FUNCTION desk_ticket_search_refresh(integer[]) RESET ALL")
    op.execute(SQL)
