"""Full-text search over tickets (issue 10): words, references, addresses and order ids.

Each ticket has a search document in `ticket_search`, which the database keeps current by
triggers (migration 0011): its subject, reference and order id; its requester's address
and name and its order's link; the text of its public messages; and, apart, its internal
notes, which only staff search (every viewer of the staff pages and staff API keys is
staff; `internal=False` leaves them out). PostgreSQL holds a tsvector per ticket under a
GIN index (text search configuration 'simple': no stemming, so addresses, handles and
other languages are found as written); SQLite an FTS5 table. Punctuation separates words
on both, so `coolshop` finds https://instagram.com/coolshop, and an address or a link
typed whole is looked for as the phrase of its words.

A query reads like a web search: words must all be there, "a phrase" in that order,
`-word` leaves out, `or` between words takes either. This module parses it once (`parse`)
and gives each database its own form of it (websearch_to_tsquery on PostgreSQL, an FTS5
expression on SQLite), so both find the same tickets.

Results come in two tiers: first the tickets a single typed token names exactly (a
reference, the requester's address, an order id: indexed equality, instant), then the
text matches ranked (ts_rank_cd; bm25 on SQLite), ties broken by the newest id. Ranking
covers the newest SEARCH_RANK_WINDOW matches of the filters: a word in half a million
tickets ranks the newest 500 of them rather than reading them all, and the page says
so. Pages follow a cursor (tier, rank, id); no page counts the matches.

Every query carries the viewer's queues (desk.tickets.queue.conditions) in its WHERE: a
ticket in a queue the viewer may not open is never a candidate, never counted.

Matches are marked in Python (`mark`, `snippet`): the text is escaped, then each matching
word is wrapped in <mark>, so the only markup on the page is ours.
"""
import re
from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import Double, and_, cast, column, func, literal_column, or_, select, table

from desk import pagination
from desk.auth.models import Staff
from desk.errors import ValidationError
from desk.extensions import db, from_replica
from desk.tickets import queue as ticket_queue
from desk.tickets.models import Message, Ticket

MAX_QUERY = 256  # characters
MAX_WORDS = 32
SNIPPET_CHARS = 160  # about the width of a fragment
SNIPPET_FRAGMENTS = 2
SOURCE_CHARS = 4000  # of each message, read to find a fragment to show
# The tables the database keeps for search (migration 0011): no model describes them.
# PostgreSQL: ticket_search; SQLite: the FTS5 table and its shadow tables.
INDEX_TABLES = frozenset({"ticket_search", "ticket_search_data", "ticket_search_idx", "ticket_search_content",
                          "ticket_search_docsize", "ticket_search_config"})
# SQLite's FTS5 columns and their bm25 weights: a subject match ranks above a message match.
FTS_COLUMNS = ("subject", "refs", "requester", "public_text", "internal_text")
FTS_WEIGHTS = (10.0, 8.0, 4.0, 2.0, 1.0)

WORD = re.compile(r"[^\W_]+")  # letters and digits; anything else separates words (as in the index)
TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')
REFERENCE = re.compile(r"T-\d{2}-\d{6,}", re.IGNORECASE)


def include_name(name, type_, parent_names) -> bool:
    """For Alembic's comparisons (autogenerate, tests/test_app.py): the search tables are
    the database's own, built by migration 0011, and no model stands for them."""
    return not (type_ == "table" and name in INDEX_TABLES)


class SearchError(ValidationError):
    code = "invalid_query"


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    negated: bool = False


@dataclass(frozen=True)
class Query:
    text: str  # as typed, trimmed
    groups: tuple[tuple[Term, ...], ...]  # groups joined by `or`; the terms of a group all apply

    @property
    def words(self) -> list[str]:
        """The words looked for (not those left out), lower-case, longest first."""
        found = {w.lower() for group in self.groups for t in group if not t.negated for w in t.words}
        return sorted(found, key=lambda w: (-len(w), w))

    @property
    def token(self) -> str | None:
        """The query when it is one plain token: a reference, an address or an order id."""
        text = self.text
        if len(text) > 254 or text.startswith("-") or any(c.isspace() or c == '"' for c in text):
            return None
        return text

    def websearch(self) -> str:
        """For PostgreSQL's websearch_to_tsquery: every term quoted, so only its words count."""
        return " or ".join(" ".join(("-" if t.negated else "") + '"' + " ".join(t.words) + '"' for t in group)
                           for group in self.groups)

    def fts5(self, columns: tuple[str, ...] | None = None) -> str:
        """For SQLite's FTS5: phrases of words (no operator or quote can come from the words)."""
        groups = []
        for group in self.groups:
            phrase = ['"' + " ".join(t.words) + '"' for t in group if not t.negated]
            left_out = ['"' + " ".join(t.words) + '"' for t in group if t.negated]
            groups.append("(" + " AND ".join(phrase) + "".join(f" NOT {p}" for p in left_out) + ")")
        expression = " OR ".join(groups)
        return "{" + " ".join(columns) + "} : (" + expression + ")" if columns else expression

    def pattern(self) -> re.Pattern:
        """The words looked for, as whole words in any case: what `mark` wraps in <mark>."""
        return re.compile(r"(?<![^\W_])(?:" + "|".join(map(re.escape, self.words)) + r")(?![^\W_])", re.IGNORECASE)


def parse(text: str | None) -> Query:
    """The words of a query; a SearchError (a 422 on the API, a 400 page) says what is wrong."""
    raw = " ".join((text or "").replace("\x00", " ").split())
    if not raw:
        raise SearchError("Type something to search for: words, a reference (T-26-…), an e-mail address or an "
                          "order id.", {"q": "required"})
    if len(raw) > MAX_QUERY:
        raise SearchError(f"A search may be at most {MAX_QUERY} characters long; this one has {len(raw):,}.",
                          {"q": f"at most {MAX_QUERY} characters"})
    matches = list(TERM.finditer(raw))
    groups, current = [], []
    for index, m in enumerate(matches):
        sign, phrase, word = m.groups()
        if word is not None:
            if word.lower() == "or" and current and index + 1 < len(matches):
                groups.append(tuple(current))  # `or` between two terms; anywhere else it is a word
                current = []
                continue
            negated = word.startswith("-") and len(word) > 1
            phrase = word[1:] if negated else word
        else:
            negated = bool(sign)
        words = tuple(WORD.findall(phrase))
        if words:
            current.append(Term(words, negated))
    if current:
        groups.append(tuple(current))
    if not groups:
        raise SearchError(f"“{raw[:40]}” has no letters or digits to search for.", {"q": "no words"})
    if sum(len(t.words) for group in groups for t in group) > MAX_WORDS:
        raise SearchError(f"A search may have at most {MAX_WORDS} words.", {"q": f"at most {MAX_WORDS} words"})
    if any(all(t.negated for t in group) for group in groups):
        raise SearchError("A word with a minus only leaves tickets out: add a word to look for.",
                          {"q": "nothing to look for"})
    return Query(raw, tuple(groups))


# --- the two tiers ----------------------------------------------------------------------

def _exact(query: Query):
    """(what the token names exactly, its negation) as conditions on tickets, or None."""
    token = query.token
    if token is None:
        return None
    found, others = [], []
    if REFERENCE.fullmatch(token):
        found.append(Ticket.reference == token.upper())
        others.append(Ticket.reference != token.upper())
    if "@" in token:
        found.append(func.lower(Ticket.requester_email) == token.lower())
        others.append(func.lower(Ticket.requester_email) != token.lower())
    if len(token) <= 64:
        found.append(Ticket.order_ref == token)
        others.append(or_(Ticket.order_ref.is_(None), Ticket.order_ref != token))
    return or_(*found), and_(*others)


def _postgresql(query: Query, internal: bool):
    """(the FROM with tickets joined, the ticket id, the match, the rank of a document) on PostgreSQL."""
    index = table("ticket_search", column("ticket_id"), column("document"))
    tsquery = func.websearch_to_tsquery(literal_column("'simple'::regconfig"), query.websearch())

    def searched(document):
        # Internal notes are the document's D part: left out of the match and the rank.
        return document if internal else func.ts_filter(document, literal_column("'{a,b,c}'::\"char\"[]"))

    def rank(document):
        # ts_rank_cd is a real; as a double it reaches Python and comes back in a cursor unchanged.
        return cast(func.ts_rank_cd(searched(document), tsquery), Double)

    match = index.c.document.bool_op("@@")(tsquery)
    if not internal:
        match = and_(match, searched(index.c.document).bool_op("@@")(tsquery))
    joined = index.join(Ticket.__table__, Ticket.id == index.c.ticket_id)
    return joined, index.c.ticket_id, match, rank


def _sqlite(query: Query, internal: bool):
    """(the FROM with tickets joined, the ticket id, the match, the rank) on SQLite's FTS5."""
    index = table("ticket_search", column("rowid"))
    columns = None if internal else FTS_COLUMNS[:-1]
    match = literal_column("ticket_search").op("MATCH")(query.fts5(columns))
    rank = -func.bm25(literal_column("ticket_search"), *FTS_WEIGHTS)
    joined = index.join(Ticket.__table__, Ticket.id == index.c.rowid)
    return joined, index.c.rowid, match, rank


def _text_parts(query: Query, internal: bool):
    return (_postgresql if db.engine.dialect.name == "postgresql" else _sqlite)(query, internal)


def _ranked(query: Query, where: list, after, limit: int, internal: bool, window: int):
    """[(id, rank)] of the text matches after the cursor, best first; and how many
    candidates were ranked (the newest `window` matches at most)."""
    joined, ticket_id, match, rank = _text_parts(query, internal)
    newest = select(ticket_id.label("id")).select_from(joined).where(match, *where).order_by(ticket_id.desc())
    if db.engine.dialect.name == "postgresql":
        # The newest matches' ids first (a sort of integers), then their documents, ranked:
        # sorting the documents themselves spilled to disk past a few thousand matches.
        ids = newest.limit(window).subquery()
        document = table("ticket_search", column("ticket_id"), column("document")).alias("ranked")
        candidates = (select(ids.c.id, rank(document.c.document).label("rank"))
                      .join_from(ids, document, document.c.ticket_id == ids.c.id).subquery())
    else:
        candidates = newest.add_columns(rank.label("rank")).limit(window).subquery()
    ranked = select(candidates.c.id, candidates.c.rank, func.count().over().label("n")).subquery()
    stmt = select(ranked.c.id, ranked.c.rank, ranked.c.n)
    if after is not None:
        _, after_rank, after_id = after
        stmt = stmt.where(or_(ranked.c.rank < after_rank, and_(ranked.c.rank == after_rank, ranked.c.id < after_id)))
    ticket_queue.plan_for_the_values()
    rows = db.session.execute(stmt.order_by(ranked.c.rank.desc(), ranked.c.id.desc()).limit(limit)).all()
    return [(row.id, float(row.rank)) for row in rows], (rows[0].n if rows else 0)


@dataclass
class Hit:
    ticket: Ticket
    match: str  # "reference", "e-mail", "order" (exact) or "text"
    rank: float | None
    subject: Markup
    requester: Markup
    snippet: Markup | None
    snippet_internal: bool = False


@dataclass
class Results:
    query: Query
    hits: list[Hit]
    next_cursor: str | None
    window: int | None = None  # ranking covered only the newest `window` matches


def decode_cursor(cursor: str | None):
    """(tier, rank, id) of a cursor `page` gave, or None (a damaged one starts from the top)."""
    found = pagination.decode(cursor, int, float, int)
    return found if found is not None and found[0] in (0, 1) else None


def page(f: ticket_queue.QueueFilter, viewer: Staff | None, cursor: str | None, size: int, *,
         internal: bool = True) -> Results:
    """One page of results for `f.q` within the filter: exact matches first (newest first),
    then text matches by rank. Read from the replica where there is one: a ticket filed a
    moment ago may show a moment later."""
    return from_replica(lambda: _page(f, viewer, cursor, size, internal))


def _page(f: ticket_queue.QueueFilter, viewer: Staff | None, cursor: str | None, size: int,
          internal: bool) -> Results:
    query = parse(f.q)
    where = ticket_queue.conditions(f, viewer)
    if where is None:
        return Results(query, [], None)
    after = decode_cursor(cursor)
    exact = _exact(query)
    rows: list[tuple[int, float, int]] = []
    if exact is not None and (after is None or after[0] == 0):
        stmt = select(Ticket.id).where(exact[0], *where)
        if after is not None:
            stmt = stmt.where(Ticket.id < after[2])
        rows = [(0, 0.0, i) for i in db.session.execute(stmt.order_by(Ticket.id.desc()).limit(size + 1)).scalars()]
        after = None  # the text matches start from the best
    window, candidates = current_app.config["SEARCH_RANK_WINDOW"], 0
    if len(rows) <= size:
        text_where = where + ([exact[1]] if exact is not None else [])
        ranked, candidates = _ranked(query, text_where, after, size + 1 - len(rows), internal, window)
        rows += [(1, rank, i) for i, rank in ranked]
    next_cursor = pagination.encode(*rows[size - 1]) if len(rows) > size else None
    rows = rows[:size]
    tickets = {t.id: t for t in ticket_queue.load([i for _, _, i in rows])}
    hits = _hits(query, [(tickets[i], tier, rank) for tier, rank, i in rows if i in tickets], internal)
    return Results(query, hits, next_cursor, window if candidates >= window else None)


def count(f: ticket_queue.QueueFilter, viewer: Staff | None, cap: int, *, internal: bool = True) -> int:
    """The tickets a search finds within the filter, counting no further than `cap`."""
    try:
        query = parse(f.q)
    except SearchError:
        return 0
    where = ticket_queue.conditions(f, viewer)
    if where is None:
        return 0
    total, exact = 0, _exact(query)
    if exact is not None:
        capped = select(Ticket.id).where(exact[0], *where).limit(cap).subquery()
        total = db.session.execute(select(func.count()).select_from(capped)).scalar_one()
        where = where + [exact[1]]
    ticket_queue.plan_for_the_values()
    if total < cap:
        joined, ticket_id, match, _ = _text_parts(query, internal)
        capped = select(ticket_id).select_from(joined).where(match, *where).limit(cap - total).subquery()
        total += db.session.execute(select(func.count()).select_from(capped)).scalar_one()
    return total


# --- what the page shows ------------------------------------------------------------------

def mark(text: str, pattern: re.Pattern) -> Markup:
    """`text` escaped, with each word of the query wrapped in <mark>."""
    out, position = [], 0
    for found in pattern.finditer(text):
        out.append(escape(text[position:found.start()]))
        out.append(Markup("<mark>%s</mark>") % found.group())
        position = found.end()
    out.append(escape(text[position:]))
    return Markup("").join(out)


def snippet(text: str, pattern: re.Pattern, width: int = SNIPPET_CHARS,
            fragments: int = SNIPPET_FRAGMENTS) -> Markup | None:
    """Up to `fragments` pieces of `text` around the words found, marked; None when none is there."""
    text = " ".join(text.split())
    pieces: list[tuple[int, int]] = []
    for found in pattern.finditer(text):
        if pieces and found.start() < pieces[-1][1]:
            continue  # already shown
        start = max(0, found.start() - width // 3)
        if start:
            space = text.rfind(" ", max(0, start - 20), start)
            start = space + 1 if space >= 0 else start
        end = min(len(text), max(start + width, found.end()))
        if end < len(text):
            space = text.find(" ", end, end + 20)
            end = space if space >= 0 else end
        pieces.append((start, end))
        if len(pieces) == fragments:
            break
    if not pieces:
        return None
    return Markup(" ").join(
        (Markup("…") if start else Markup("")) + mark(text[start:end], pattern)
        + (Markup("…") if end < len(text) else Markup("")) for start, end in pieces)


def opening(text: str, width: int = SNIPPET_CHARS) -> Markup:
    text = " ".join(text.split())
    return escape(text[:width]) + (Markup("…") if len(text) > width else Markup(""))


def _hits(query: Query, rows: list[tuple[Ticket, int, float]], internal: bool) -> list[Hit]:
    ids = [ticket.id for ticket, _, _ in rows]
    texts: dict[int, dict[bool, list[str]]] = {i: {False: [], True: []} for i in ids}
    if ids:
        stmt = (select(Message.ticket_id, Message.internal, func.substr(Message.body_text, 1, SOURCE_CHARS))
                .where(Message.ticket_id.in_(ids)).order_by(Message.ticket_id, Message.id))
        if not internal:
            stmt = stmt.where(Message.internal.is_(False))
        for ticket_id, is_internal, body in db.session.execute(stmt):
            texts[ticket_id][bool(is_internal)].append(body or "")
    pattern, token = query.pattern(), (query.token or "")
    hits = []
    for ticket, tier, rank in rows:
        public, notes = "\n".join(texts[ticket.id][False]), "\n".join(texts[ticket.id][True])
        found, from_notes = snippet(public, pattern), False
        if found is None and notes:
            found, from_notes = snippet(notes, pattern), True
        if found is None:
            found, from_notes = opening(public), False
        if tier == 0:
            match = ("reference" if ticket.reference == token.upper() else
                     "e-mail" if ticket.requester_email.lower() == token.lower() else "order")
        else:
            match = "text"
        hits.append(Hit(ticket, match, rank if tier else None, mark(ticket.subject, pattern),
                        mark(ticket.requester_name or ticket.requester_email, pattern), found, from_notes))
    return hits
