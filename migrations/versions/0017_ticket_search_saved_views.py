"""Full-text search over tickets and saved views of the queue (issue 10).

`ticket_search` holds one search document per ticket: its subject, reference and order id;
the requester's address and name and the link of its order; the text of its public
messages; and the text of its internal notes — each part weighted (PostgreSQL A, B, C, D;
SQLite: one FTS5 column each), so a match in the subject ranks above one in a message and
internal text can be left out of a search. The database keeps it current itself, with
triggers on tickets, messages and orders: every write reaches it, including the bulk
UPDATEs of the privacy desk's erasure and of imports, which no ORM event sees.

- PostgreSQL: a table of (ticket_id, tsvector) with a GIN index. The document is built by
  the view `ticket_search_source`, used by the triggers (statement-level, with transition
  tables: one set-based refresh per statement, however many rows it wrote) and by the
  backfill below.
- SQLite: an FTS5 table (rowid = ticket id) kept by row triggers. Without FTS5 this
  migration stops with a message saying so. SQLite will not rename a table that a trigger
  names, so a later migration that rebuilds tickets, messages or orders there (a
  batch_alter_table table copy) must drop SQLITE_TRIGGERS first and create them again
  after; tests/test_search.py checks that they are all in place.

Text search configuration 'simple' (lower-case, no stemming, no stop words): the desk's
text is in many languages and full of addresses, links, handles and order ids, which an
English stemmer would mangle. Punctuation is turned into spaces before parsing, on both
databases, so `coolshop` finds https://instagram.com/coolshop and `smith` finds
bob.smith@example.com, as SQLite's unicode61 tokenizer does; an address or link typed
whole is searched as the phrase of its words.

`saved_views`: an agent's named filter and sort of the queue, personal or shared.
`ix_tickets_queue_status_created`: the queue's ranges by age, for views sorted newest or
oldest first.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa
import desk.types


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The ASCII punctuation replaced by spaces before the text is parsed (desk.tickets.search
# splits the words of a query the same way).
PUNCTUATION = """!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"""
# At most this much of a ticket's public and internal text is indexed: a tsvector holds at
# most 1 MB, and a conversation longer than this is found by its first 200,000 characters.
PUBLIC_CHARS = 200_000
INTERNAL_CHARS = 100_000

PG_SOURCE = f"""
CREATE VIEW ticket_search_source AS
SELECT t.id AS ticket_id,
       setweight(to_tsvector('simple', desk_search_text(
           t.subject || ' ' || t.reference || ' ' || coalesce(t.order_ref, ''))), 'A')
    || setweight(to_tsvector('simple', desk_search_text(
           t.requester_email || ' ' || t.requester_name || ' ' || coalesce(o.link, ''))), 'B')
    || setweight(to_tsvector('simple', desk_search_text(coalesce(m.public_text, ''))), 'C')
    || setweight(to_tsvector('simple', desk_search_text(coalesce(m.internal_text, ''))), 'D') AS document
FROM tickets t
LEFT JOIN orders o ON o.panel_id = t.order_ref
LEFT JOIN LATERAL (
    SELECT left(string_agg(body_text, E'\\n' ORDER BY id) FILTER (WHERE NOT internal), {PUBLIC_CHARS}) AS public_text,
           left(string_agg(body_text, E'\\n' ORDER BY id) FILTER (WHERE internal), {INTERNAL_CHARS}) AS internal_text
    FROM messages WHERE messages.ticket_id = t.id
) m ON true
"""

# Inlined by the planner. desk.tickets.search splits a query's words the same way.
PG_SEARCH_TEXT = f"""CREATE FUNCTION desk_search_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(value, '{PUNCTUATION.replace("'", "''")}', '{" " * len(PUNCTUATION)}')
$$"""
PG_FUNCTIONS = [
    """CREATE FUNCTION desk_ticket_search_refresh(ids integer[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO ticket_search (ticket_id, document)
    SELECT ticket_id, document FROM ticket_search_source WHERE ticket_id = ANY (ids)
    ON CONFLICT (ticket_id) DO UPDATE SET document = EXCLUDED.document
$$""",
    # Transition tables: one refresh per statement, for the rows whose searched columns changed.
    """CREATE FUNCTION desk_ticket_search_on_tickets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM desk_ticket_search_refresh(ARRAY(SELECT id FROM new_rows));
    ELSE
        PERFORM desk_ticket_search_refresh(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.subject, n.reference, n.order_ref, n.requester_email, n.requester_name)
                  IS DISTINCT FROM (o.subject, o.reference, o.order_ref, o.requester_email, o.requester_name)));
    END IF;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION desk_ticket_search_on_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM desk_ticket_search_refresh(ARRAY(SELECT DISTINCT ticket_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM desk_ticket_search_refresh(ARRAY(SELECT DISTINCT ticket_id FROM old_rows));
    ELSE
        PERFORM desk_ticket_search_refresh(ARRAY(
            SELECT unnest(ARRAY[n.ticket_id, o.ticket_id]) FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.body_text, n.internal, n.ticket_id) IS DISTINCT FROM (o.body_text, o.internal, o.ticket_id)));
    END IF;
    RETURN NULL;
END $$""",
    # An order's link is part of its tickets' documents (matched through tickets.order_ref).
    """CREATE FUNCTION desk_ticket_search_on_orders() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM desk_ticket_search_refresh(ARRAY(
            SELECT id FROM tickets WHERE order_ref = ANY (ARRAY(SELECT panel_id FROM new_rows))));
    ELSE
        PERFORM desk_ticket_search_refresh(ARRAY(
            SELECT id FROM tickets WHERE order_ref = ANY (ARRAY(
                SELECT unnest(ARRAY[n.panel_id, o.panel_id]) FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE (n.link, n.panel_id) IS DISTINCT FROM (o.link, o.panel_id)))));
    END IF;
    RETURN NULL;
END $$""",
]
# (trigger, table, event, transition tables)
PG_TRIGGERS = [
    ("ticket_search_ticket_insert", "tickets", "INSERT", "NEW TABLE AS new_rows"),
    ("ticket_search_ticket_update", "tickets", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("ticket_search_message_insert", "messages", "INSERT", "NEW TABLE AS new_rows"),
    ("ticket_search_message_update", "messages", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("ticket_search_message_delete", "messages", "DELETE", "OLD TABLE AS old_rows"),
    ("ticket_search_order_insert", "orders", "INSERT", "NEW TABLE AS new_rows"),
    ("ticket_search_order_update", "orders", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
]


# SQLite has no transition tables: row triggers refresh the tickets named by `{ids}`. FTS5's
# unicode61 tokenizer splits at punctuation itself, so the text goes in as written.
SQLITE_DOCUMENTS = f"""
    INSERT INTO ticket_search (rowid, subject, refs, requester, public_text, internal_text)
    SELECT t.id, t.subject, t.reference || ' ' || coalesce(t.order_ref, ''),
           t.requester_email || ' ' || t.requester_name || ' ' || coalesce(o.link, ''),
           substr(coalesce((SELECT group_concat(body_text, char(10)) FROM (
               SELECT body_text FROM messages WHERE ticket_id = t.id AND NOT internal ORDER BY id)), ''),
               1, {PUBLIC_CHARS}),
           substr(coalesce((SELECT group_concat(body_text, char(10)) FROM (
               SELECT body_text FROM messages WHERE ticket_id = t.id AND internal ORDER BY id)), ''),
               1, {INTERNAL_CHARS})
    FROM tickets t LEFT JOIN orders o ON o.panel_id = t.order_ref"""
SQLITE_REFRESH = """
    DELETE FROM ticket_search WHERE rowid IN ({ids});""" + SQLITE_DOCUMENTS + """
    WHERE t.id IN ({ids});"""
# (trigger, event, the tickets it refreshes)
SQLITE_TRIGGERS = [
    ("ticket_search_ticket_insert", "AFTER INSERT ON tickets", "NEW.id"),
    ("ticket_search_ticket_update", "AFTER UPDATE OF subject, reference, order_ref, requester_email, "
     "requester_name ON tickets", "OLD.id, NEW.id"),
    ("ticket_search_message_insert", "AFTER INSERT ON messages", "NEW.ticket_id"),
    ("ticket_search_message_update", "AFTER UPDATE OF body_text, internal, ticket_id ON messages",
     "OLD.ticket_id, NEW.ticket_id"),
    ("ticket_search_message_delete", "AFTER DELETE ON messages", "OLD.ticket_id"),
    ("ticket_search_order_insert", "AFTER INSERT ON orders",
     "SELECT id FROM tickets WHERE order_ref = NEW.panel_id"),
    ("ticket_search_order_update", "AFTER UPDATE OF link, panel_id ON orders",
     "SELECT id FROM tickets WHERE order_ref IN (OLD.panel_id, NEW.panel_id)"),
]
SQLITE_TICKET_DELETE = """CREATE TRIGGER ticket_search_ticket_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = OLD.id;
END"""


def upgrade():
    op.create_table('saved_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('shared', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', desk.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['staff.id'], name=op.f('fk_saved_views_owner_id_staff'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views')),
    sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_saved_views_owner_id'))
    )
    with op.batch_alter_table('saved_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_views_owner_id'), ['owner_id'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_queue_status_created', ['queue', 'status', 'created_at', 'id'],
                              unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql():
    op.execute("""CREATE TABLE ticket_search (
        ticket_id integer NOT NULL,
        document tsvector NOT NULL,
        CONSTRAINT pk_ticket_search PRIMARY KEY (ticket_id),
        CONSTRAINT fk_ticket_search_ticket_id_tickets FOREIGN KEY (ticket_id) REFERENCES tickets (id)
            ON DELETE CASCADE
    )""")
    op.execute(PG_SEARCH_TEXT)
    op.execute(PG_SOURCE)
    for statement in PG_FUNCTIONS:
        op.execute(statement)
    # The backfill in one statement; the index after it (one sorted build, not a million inserts).
    op.execute("INSERT INTO ticket_search (ticket_id, document) SELECT ticket_id, document FROM ticket_search_source")
    op.execute("CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)")
    for name, table, event, transitions in PG_TRIGGERS:
        function = {"tickets": "desk_ticket_search_on_tickets", "messages": "desk_ticket_search_on_messages",
                    "orders": "desk_ticket_search_on_orders"}[table]
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def _upgrade_sqlite():
    bind = op.get_bind()
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        bind.exec_driver_sql("DROP TABLE temp.fts5_probe")
    except sa.exc.OperationalError as exc:
        raise RuntimeError(
            "This SQLite has no FTS5 (full-text search), which the desk's ticket search needs "
            f"({exc.orig}). Use a Python whose sqlite3 is built with FTS5 (the python.org and "
            "Debian builds are), or PostgreSQL (DATABASE_URL).") from None
    op.execute("CREATE VIRTUAL TABLE ticket_search USING fts5("
               "subject, refs, requester, public_text, internal_text, tokenize = 'unicode61 remove_diacritics 2')")
    op.execute(SQLITE_DOCUMENTS)  # the backfill: every ticket in one statement
    for name, event, ids in SQLITE_TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {event} BEGIN {SQLITE_REFRESH.format(ids=ids)}\nEND")
    op.execute(SQLITE_TICKET_DELETE)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, _, _ in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for function in ("desk_ticket_search_on_orders()", "desk_ticket_search_on_messages()",
                         "desk_ticket_search_on_tickets()", "desk_ticket_search_refresh(integer[])"):
            op.execute(f"DROP FUNCTION {function}")
        op.execute("DROP VIEW ticket_search_source")
        op.execute("DROP FUNCTION desk_search_text(text)")
        op.execute("DROP TABLE ticket_search")
    else:
        for name, _, _ in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TRIGGER ticket_search_ticket_delete")
        op.execute("DROP TABLE ticket_search")

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_queue_status_created')
    with op.batch_alter_table('saved_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_views_owner_id'))
    op.drop_table('saved_views')
