"""The OpenAPI 3.1 document of the JSON API (DESIGN §6), as data, served without a key at
GET /api/v1/openapi.json. tests/test_openapi.py checks that it is valid, that it names
every route of the blueprint, and (schemathesis) that the real answers match it.

The enums are read from the constants the services check against, so a new status or
kind shows here without a second list to keep."""
from flask import jsonify

from desk.accounts.services import MAX_ACCOUNTS, MAX_NEED, MIN_NEED
from desk.api import CSRF_HEADER, DEFAULT_LIMIT, MAX_LIMIT, bp
from desk.auth.roles import API_KEY_ROLES
from desk.claims.ledger import MAX_BATCH
from desk.claims.models import CUSTOMER_STATUSES, ORDER_STATUSES, TARGET_STATES
from desk.claims.parse import MAX_INT
from desk.money.models import STATUSES as MONEY_STATUSES
from desk.policy import abuse as abuse_policy
from desk.policy import accounts as accounts_policy
from desk.policy import claims as claims_policy
from desk.policy import ledger as ledger_policy
from desk.policy import money as money_policy
from desk.policy import privacy as privacy_policy
from desk.portal.services import CUSTOMER_KINDS
from desk.privacy.models import STATUSES as PRIVACY_STATUSES
from desk.config import QUEUES
from desk.tickets.models import CHANNELS, KIND_QUEUES, PRIORITIES, STATUSES as TICKET_STATUSES
from desk.tickets.queue import MAX_TAG
from desk.tickets.search import MAX_QUERY
from desk.types import MAX_ID

OUTCOMES = [claims_policy.ELIGIBLE, claims_policy.REJECTED, claims_policy.NEEDS_REVIEW]
# Kinds with an intake of their own are refused by POST /tickets (desk.api.tickets.OWN_INTAKES).
TICKET_KINDS = [k for k in KIND_QUEUES if k not in ("abuse", "rights", "privacy", "chargeback")]

DESCRIPTION = f"""\
The desk's JSON API: the panel pushes its customers, orders and ledger entries, asks the
Terms for decisions on claims and money requests, and files and follows tickets; the
panel's own pages call it for the signed-in customer with that customer's session. Anyone
may file an abuse or rights-holder report or a privacy request through the public intakes.

**Keys.** Send `Authorization: Bearer <key>`. Keys have a role: `panel` (the storefront)
or `staff` (support tools); an operation names the roles it takes (`x-key-roles`). No key
or an unknown or revoked key is a 401, a key of the wrong role a 403. The public intakes
and this document need no key.

**Customer session.** Without an `Authorization` header, the customer portal's session
cookie (`customerSession`: the customer signed in at `/portal/sign-in` or by the panel's
single sign-on, `/portal/sso`) is that customer — an `Authorization` header always wins
over the cookie. `GET /me` answers with the account, its Balance and a `csrf_token`;
every POST, PUT, PATCH or DELETE under a session carries it in the `{CSRF_HEADER}` header
(`csrfToken`), or is a 403 `csrf_failed` that changes nothing. The operations whose
`security` lists `customerSession` take a session, always for that customer alone: its own
tickets (as the portal shows them: never trust & safety's cases, never internal notes),
orders, Balance, quotes and money requests. A `customer` naming anyone else, or an id of
someone else's ticket, order or request, is the same 404 as one that does not exist. Any
other operation is a 403 `forbidden` to a session.

**JSON.** Request bodies are JSON objects sent with `Content-Type: application/json`;
anything else is a 400 `malformed_json`. Fields the desk does not know are ignored.

**Errors.** Every error is a 4xx with one body: `{{"error": {{"code", "message",
"fields"}}}}`. `code` is a stable word to branch on (`unauthorized`, `forbidden`,
`csrf_failed`, `malformed_json`, `bad_cursor`, `invalid`, `invalid_kind`, `not_found`,
`attachment_rejected`, `figures_changed`, `wrong_status`, `no_email`, `too_many_requests`,
…); `message` is a sentence for
people; `fields` (present when input was at fault) maps each field at fault — with its
path, as `entries[2].amount` or `tool.refill_days` — to what is wrong with it, so one
answer lists every problem. 400: the body cannot be read, a claim's `kind` is unknown, or
a cursor is damaged; 404: nothing with that id is visible to the caller; 409: the state changed (a
request already decided, figures that moved); 413: too large; 415: an attachment type the
desk does not take; 422: the input is readable but wrong; 429: rate limited, with
`Retry-After` in seconds.

**Values.** Money is a string with two decimals (`"2.50"`, negative only where a balance
is); a float is refused. Times are ISO 8601 with a zone (`2026-07-03T14:00:00Z`); a time
without one is refused, and answers give UTC (`+00:00`). Ids the panel owns (customers,
orders, ledger entries) are strings of at most 64 characters.

**Idempotence.** PUTs create or update (201 then 200). Ledger entries are stored once by
their id. Filing a claim, a money request or a request for more accounts while the same
one is open answers 200 with the open one instead of a second (201 when it was created).

**Pagination.** The listing operations (`GET /tickets`, `GET /orders`,
`GET /money-requests`, `GET /search/tickets`) page by an opaque cursor, never by offset, and count nothing: an
answer is `{{"items": [...], "next_cursor": ...}}` (the ticket search's is `results`, exact
matches first, then by rank), and `next_cursor` (`null` on the last
page) is sent back as `?cursor=` with the same filters for the next page, which starts
after the last item shown — so a page costs the same however deep, and rows added
meanwhile never shift a page. `?limit=` is 1-{MAX_LIMIT} ({DEFAULT_LIMIT} when left out); outside
that range it is a 422, not clamped. A damaged cursor is a 400 `bad_cursor`. Lists are
newest first: tickets by filing, orders by their time on the panel, money requests by
filing. Every list inside an answer (a ticket's messages, an order's status history) is
complete. Batches sent to the desk are bounded instead (at most {MAX_BATCH} ledger
entries per request).

**Decisions explain themselves.** Every answer that carries a decision's `rules` (claims,
quotes, money requests, requests for more accounts) carries `clauses` too: for each rule,
its clause's title, the Terms' own words, the same in plain words and `help_url`, the help
center's article about it, ready to show the customer.

**Rate limits.** Every operation is rate limited per client (the API limit); the public
intakes also by the public forms' limit. Over it: 429 with `Retry-After`.
"""


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    schema = {**schema, "type": [kind, "null"] if isinstance(kind, str) else [*kind, "null"]}
    if "enum" in schema:  # an enum lists every value it takes, null too
        schema["enum"] = [*schema["enum"], None]
    return schema


def obj(properties: dict, required=(), description: str | None = None, closed: bool = False, **extra) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def string(description: str | None = None, **extra) -> dict:
    schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def enum(values, description: str | None = None) -> dict:
    return string(description, enum=list(values))


def integer(description: str | None = None, minimum: int | None = 0, maximum: int | None = MAX_INT) -> dict:
    schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if description:
        schema["description"] = description
    return schema


def array(items: dict, description: str | None = None, **extra) -> dict:
    schema = {"type": "array", "items": items, **extra}
    if description:
        schema["description"] = description
    return schema


MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
# Input: up to ten digits and two decimals; the desk pads "2.5" to 2.50.
MONEY_IN_PATTERN = r"^\s*[0-9]{1,10}(\.[0-9]{1,2})?\s*$"
SIGNED_MONEY_IN_PATTERN = r"^\s*-?[0-9]{1,10}(\.[0-9]{1,2})?\s*$"
# An aware time, as isoformat() writes it (the desk answers in UTC).
TIME_PATTERN = r"(Z|[+-][0-9]{2}:[0-9]{2})$"

# The figures of a money request (desk.policy.money.Quote.to_dict): a quote's answer and
# the `quote` stored on a request.
FIGURES = {
    "kind": enum(("refund", "withdrawal", "closure", "restoration")),
    "decision": ref("Decision"),
    "method": enum(money_policy.METHODS),
    "order": nullable(string()),
    "requested": {**ref("Money"), "description": "What the request takes from the Balance (or the order)."},
    "available_deposited": ref("Money"),
    "deductions": array(ref("Deduction"), "Every deduction, itemised."),
    "amount": {**ref("Money"), "description": "Paid out to the payment method, or credited to the Balance."},
    "credit": {**ref("Money"), "description": "An order's refund: first credited back to the Balance."},
    "fee_rate": string("The withdrawal fee rate in force, as a fraction.", pattern=r"^[0-9]+\.[0-9]+$"),
    "fee_percent": string(pattern=r"^[0-9]+\.[0-9]{2}$"),
    "forfeited_promotional": {**ref("Money"), "description": "Closure: Promotional Credit forfeited."},
    "confirmation_required": {"type": "boolean",
                              "description": "The customer confirms these figures before the request counts."},
    "verification_required": {"type": "boolean",
                              "description": "Identity and payment method are verified first "
                                             "(terms-18-verification)."},
    "rules": ref("Rules"),
    "reasons": array(ref("Reason")),
}
CUSTOMER = {
    "panel_id": string(),
    "login": string("\"\" while the panel has not sent one."),
    "email": nullable(string()),
    "email_verified": {"type": "boolean"},
    "country": nullable(string()),
    "status": enum(CUSTOMER_STATUSES),
    "balance": ref("Balance"),
}
CUSTOMER_REQUIRED = ("panel_id", "login", "email", "email_verified", "country", "status", "balance")
FIGURES_REQUIRED = ("kind", "decision", "method", "order", "requested", "available_deposited",
                    "deductions", "amount", "confirmation_required", "verification_required", "rules", "reasons")

SCHEMAS: dict[str, dict] = {
    # --- shared values -------------------------------------------------------------------
    "Error": obj({
        "error": obj({
            "code": string("A stable word to branch on.", examples=["invalid"]),
            "message": string("What went wrong, in a sentence for people."),
            "fields": obj({}, description="Each field at fault (with its path, e.g. `entries[0].amount`) and what "
                                          "is wrong with it. Present when input was at fault.",
                          additionalProperties={"type": "string"}),
        }, required=("code", "message"), closed=True),
    }, required=("error",), closed=True, description="The one error body of the API (with a 4xx status)."),
    "Money": string("An amount of money: a string with two decimals.", pattern=MONEY_PATTERN, examples=["2.50"]),
    "MoneyInput": string("An amount of money: a string with at most two decimals and ten digits, not negative "
                         "(never a float).", pattern=MONEY_IN_PATTERN, examples=["2.50"]),
    "SignedMoneyInput": string("An amount of money that may carry a sign (adjustments).",
                               pattern=SIGNED_MONEY_IN_PATTERN, examples=["-5.00"]),
    "Time": string("An ISO 8601 time with its zone (the desk answers in UTC).", format="date-time",
                   pattern=TIME_PATTERN, examples=["2026-07-03T14:00:00+00:00"]),
    "TimeInput": string("An ISO 8601 time with its zone (`Z` for UTC), years 1970-2999. A time without a zone "
                        "is refused.", format="date-time", examples=["2026-07-03T14:00:00Z"]),
    "PanelId": string("An id the panel owns (customer, order, ledger entry).", minLength=1, maxLength=64,
                      examples=["1001"]),
    "Words": obj({
        "msgid": string("The sentence's message id in the desk's catalogues (English, with %(name)s places)."),
        "params": obj({}, description="What fills the places: figures as strings, or a sentence of its own "
                                      "(a Words object) to translate as well."),
    }, required=("msgid", "params"), description="On a stored decision, a sentence the desk translates: a "
                                                  "client may show it in its customer's language from the "
                                                  "same catalogue."),
    "Reason": obj({
        "rule": string("The rule id of the Terms (desk.policy).", examples=["terms-7-claim-window"]),
        "outcome": enum(OUTCOMES, "What this rule alone would decide."),
        "text": string("The reason in words, with its figures."),
        "words": ref("Words"),
    }, required=("rule", "outcome", "text"), closed=True),
    "Rules": array(string(), "The rule ids behind the decision, each once, in the order of the reasons."),
    "Clause": obj({
        "rule": string("The rule id.", examples=["terms-7-claim-window"]),
        "title": nullable(string("The clause's title, e.g. \"Terms §7 Claim Window\".")),
        "words": nullable(string("The Terms' own words, verbatim.")),
        "plain": nullable(string("The same in plain words for the customer.")),
        "help_url": nullable(string("The help center's article explaining the rule, at the rule's anchor "
                                    "(absolute, from PUBLIC_URL).", examples=["https://desk.example/help/claim-window#terms-7-claim-window"])),
    }, required=("rule", "title", "words", "plain", "help_url"), closed=True),
    "Clauses": array(ref("Clause"), "Each rule of `rules`, in the same order, explained: what to show the "
                                    "customer beside the decision."),
    "Decision": enum(OUTCOMES, "eligible, rejected, or needs_review (a person decides)."),
    "Requester": obj({
        "email": string("The requester's e-mail address.", format="email", maxLength=254),
        "name": string(maxLength=120),
    }),
    "AttachmentInput": obj({
        "filename": string(maxLength=1000, examples=["screenshot.png"]),
        "content_base64": string("The file's bytes, base64. The type is sniffed from them (images, PDF, plain "
                                 "text, MP4/WebM); the size is capped by ATTACHMENT_MAX_BYTES (10 MB by default).",
                                 contentEncoding="base64"),
    }, required=("filename", "content_base64")),
    "Attachments": array(ref("AttachmentInput"), "Files, at most ATTACHMENT_MAX_FILES (5 by default)."),

    # --- tickets ---------------------------------------------------------------------------
    "Attachment": obj({
        "id": integer(minimum=1), "filename": string(), "content_type": string("Sniffed from the bytes."),
        "size": integer("Bytes."), "sha256": string(pattern="^[0-9a-f]{64}$"),
        "scan": nullable(enum(("pending", "clean", "infected", "error"),
                              "The virus scan: null when the file was stored while scanning was off; infected "
                              "files are quarantined and never served; a failed scan (error) is retried.")),
        "scan_result": nullable(string("The signature found (infected), or why the scan failed (error).")),
    }, required=("id", "filename", "content_type", "size", "sha256", "scan", "scan_result"), closed=True),
    "Message": obj({
        "id": integer(minimum=1),
        "author": enum(("requester", "staff", "system")),
        "internal": {"type": "boolean", "description": "An internal note: only staff keys see these."},
        "body_html": string("The message as sanitised HTML."),
        "body_text": string("The message as plain text (card numbers and such redacted)."),
        "redaction_note": nullable(string("What was redacted from the message, if anything.")),
        "created_at": ref("Time"),
        "attachments": array(ref("Attachment")),
    }, required=("id", "author", "internal", "body_html", "body_text", "redaction_note", "created_at",
                 "attachments"), closed=True),
    "Clock": obj({
        "name": string("first_response, resolution, statutory_answer, …"),
        "rule": string("The rule that runs it, e.g. terms-33-support-hours or privacy-10-gdpr."),
        "state": enum(("running", "paused", "breached", "met", "missed")),
        "target": string("The target in words, e.g. \"8 h of support time\"."),
        "due_at": nullable(ref("Time")),
        "stopped_at": nullable(ref("Time")),
    }, required=("name", "rule", "state", "target", "due_at", "stopped_at"), closed=True),
    "Ticket": obj({
        "reference": string(pattern=r"^T-[0-9]{2}-[0-9]{6,}$", examples=["T-26-000042"]),
        "kind": enum(KIND_QUEUES),
        "channel": enum(CHANNELS),
        "subject": string(),
        "status": enum(TICKET_STATUSES),
        "priority": enum(PRIORITIES),
        "queue": enum(sorted(set(KIND_QUEUES.values()))),
        "requester": obj({"email": string(), "name": string()}, required=("email", "name"), closed=True),
        "customer": nullable(string("The panel's customer id.")),
        "order": nullable(string("The panel's order id.")),
        "due_at": nullable(ref("Time")),
        "clocks": array(ref("Clock")),
        "created_at": ref("Time"),
        "requester_url": string("The requester's own page for the ticket (a signed link).", format="uri"),
        "merged_into": nullable(string("Set when the ticket was merged into another (it is closed and takes no "
                                       "more messages: 409 merged): that ticket's reference, when this key may "
                                       "read it.")),
        "messages": array(ref("Message"), "Every message, in time order; internal notes only for staff keys."),
        "tags": array(string(), "Staff keys only."),
        "assignee": nullable(string("The assignee's e-mail. Staff keys only.")),
    }, required=("reference", "kind", "channel", "subject", "status", "priority", "queue", "requester",
                 "customer", "order", "due_at", "clocks", "created_at", "requester_url", "merged_into",
                 "messages"), closed=True),
    "NewTicket": obj({
        "subject": string(maxLength=200),
        "body": string("Plain text.", maxLength=100_000),
        "requester": ref("Requester"),
        "requester_email": string("The same as requester.email, for a client that sends it flat.",
                                  format="email"),
        "kind": enum(TICKET_KINDS, "general by default. Abuse and rights reports and privacy requests have "
                                   "intakes of their own; a chargeback comes with its ledger entry."),
        "customer": ref("PanelId"),
        "order": ref("PanelId"),
        "priority": enum(PRIORITIES, "normal by default."),
        "attachments": ref("Attachments"),
    }, required=("subject", "body"), description="requester.email (or requester_email) is required too, from a key. "
                                                 "A customer session's ticket is its own: requester, customer and "
                                                 "priority are the account's.",
        examples=[{"subject": "Order 1001 not delivered", "body": "Nothing arrived yet.",
                   "requester": {"email": "alice@alice-shop.example", "name": "Alice"}, "customer": "alice",
                   "order": "1001"}]),
    "NewMessage": obj({
        "body": string("Plain text from a panel key, Markdown from a staff key.", minLength=1, maxLength=100_000),
        "internal": {"type": "boolean", "default": False, "description": "An internal note (staff keys only)."},
        "attachments": ref("Attachments"),
    }, required=("body",), examples=[{"body": "Any news on this?"}]),

    "SearchHit": obj({
        "reference": string(pattern=r"^T-[0-9]{2}-[0-9]{6,}$"),
        "url": string("The ticket in this API.", format="uri-reference"),
        "subject": string(),
        "kind": enum(KIND_QUEUES),
        "queue": enum(sorted(set(KIND_QUEUES.values()))),
        "status": enum(TICKET_STATUSES),
        "priority": enum(PRIORITIES),
        "requester": obj({"email": string(), "name": string()}, required=("email", "name"), closed=True),
        "order": nullable(string("The panel's order id.")),
        "assignee": nullable(string("The assignee's e-mail.")),
        "tags": array(string()),
        "due_at": nullable(ref("Time")),
        "created_at": ref("Time"),
        "updated_at": ref("Time"),
        "match": enum(("reference", "e-mail", "order", "text"),
                      "What matched: the query named the ticket's reference, requester address or order id "
                      "exactly (these come first), or its words are in the ticket."),
        "rank": nullable({"type": "number", "description": "A text match's relevance (higher is better); "
                                                           "null for an exact match."}),
        "highlight": obj({
            "subject": string("The subject as HTML: escaped, the words found in <mark>."),
            "requester": string("The requester's name (or address) the same way."),
            "snippet": nullable(string("Pieces of the conversation around the words found, the same way.")),
            "snippet_from": enum(("messages", "internal_note")),
        }, required=("subject", "requester", "snippet", "snippet_from"), closed=True),
    }, required=("reference", "url", "subject", "kind", "queue", "status", "priority", "requester", "order",
                 "assignee", "tags", "due_at", "created_at", "updated_at", "match", "rank", "highlight"),
        closed=True),
    "SearchResults": obj({
        "query": string("The query as read."),
        "results": array(ref("SearchHit"), "Exact matches first (newest first), then text matches by rank."),
        "next_cursor": nullable(string("Send back as ?cursor= for the next page; null on the last.")),
        "ranked_within": nullable(integer("Set when more text matched than are ranked: the ranking covered the "
                                          "newest this-many matches (SEARCH_RANK_WINDOW). Add words or filters "
                                          "to narrow.", minimum=1)),
    }, required=("query", "results", "next_cursor", "ranked_within"), closed=True),

    # --- the panel's mirror -------------------------------------------------------------------
    "CustomerInput": obj({
        "login": string(maxLength=120),
        "email": string(format="email", maxLength=254),
        "email_verified": {"type": "boolean"},
        "country": string("ISO 3166 alpha-2.", maxLength=2, examples=["DE"]),
        "status": enum(CUSTOMER_STATUSES),
        "last_login_at": ref("TimeInput"),
        "last_deposit_at": ref("TimeInput"),
        "last_order_at": ref("TimeInput"),
    }, description="Only the fields sent are changed.",
        examples=[{"login": "alice", "email": "alice@alice-shop.example", "email_verified": True,
                   "status": "active", "last_login_at": "2026-07-01T09:00:00Z"}]),
    "Balance": obj({
        "deposited": ref("Money"), "promotional": ref("Money"), "total": ref("Money"),
    }, required=("deposited", "promotional", "total"), closed=True,
        description="Deposited Funds and Promotional Credit, derived from the ledger."),
    "Customer": obj(CUSTOMER, required=CUSTOMER_REQUIRED, closed=True),
    "Me": obj({**CUSTOMER, "csrf_token": string(f"Send it in the {CSRF_HEADER} header of every POST, PUT, PATCH "
                                                "and DELETE under this session.")},
              required=(*CUSTOMER_REQUIRED, "csrf_token"), closed=True,
              description="The signed-in customer, with the Balance split (Deposited Funds, Promotional Credit)."),
    "Tool": obj({
        "id": nullable(string(maxLength=64)),
        "name": nullable(string(maxLength=300)),
        "refill": {"type": "boolean"},
        "refill_days": integer(maximum=36500),
        "refill_min_drop": integer(),
        "guarantee": {"type": "boolean"},
        "beta": {"type": "boolean"},
    }, description="The tool's flags as they were when the order was placed."),
    "ToolInput": obj({
        "id": string(maxLength=64), "name": string(maxLength=300), "refill": {"type": "boolean"},
        "refill_days": integer(maximum=36500), "refill_min_drop": integer(), "guarantee": {"type": "boolean"},
        "beta": {"type": "boolean"},
    }),
    "StatusChange": obj({"status": enum(ORDER_STATUSES), "at": ref("Time")}, required=("status", "at"),
                        closed=True),
    "OrderInput": obj({
        "customer": ref("PanelId"),
        "link": string(minLength=1, maxLength=2048),
        "quantity": integer(minimum=1),
        "charge": ref("MoneyInput"),
        "charge_deposited": ref("MoneyInput"),
        "charge_promo": ref("MoneyInput"),
        "start_count": integer(),
        "remains": integer("At most the quantity."),
        "status": enum(ORDER_STATUSES),
        "created_at": ref("TimeInput"),
        "status_changed_at": ref("TimeInput"),
        "target_state": enum(TARGET_STATES, "ok by default."),
        "tool": ref("ToolInput"),
        "history": array(obj({"status": enum(ORDER_STATUSES), "at": ref("TimeInput")}, required=("status", "at")),
                         "The status history, when the panel sends it rather than letting the desk keep it "
                         "from successive updates."),
    }, required=("customer", "link", "quantity", "charge", "status", "created_at"),
        description="charge_deposited + charge_promo = charge (one left out is the rest; both left out: all "
                    "from Deposited Funds). The tool's flags are kept as they were when the order was first "
                    "sent.",
        examples=[{"customer": "alice", "link": "https://www.instagram.com/p/P1001/", "quantity": 1000,
                   "charge": "10.00", "charge_deposited": "10.00", "charge_promo": "0.00", "start_count": 100,
                   "remains": 0, "status": "completed", "created_at": "2026-07-01T09:00:00Z",
                   "status_changed_at": "2026-07-01T10:00:00Z", "tool": {"id": "1", "name": "Likes"}}]),
    "Order": obj({
        "panel_id": string(), "customer": string(), "link": string(), "link_normalized": string(),
        "quantity": integer(), "charge": ref("Money"), "charge_deposited": ref("Money"), "charge_promo": ref("Money"),
        "start_count": nullable(integer()), "remains": integer(), "status": enum(ORDER_STATUSES),
        "target_state": enum(TARGET_STATES), "created_at": ref("Time"), "finished_at": nullable(ref("Time")),
        "tool": ref("Tool"), "history": array(ref("StatusChange")),
    }, required=("panel_id", "customer", "link", "link_normalized", "quantity", "charge", "charge_deposited",
                 "charge_promo", "start_count", "remains", "status", "target_state", "created_at", "finished_at",
                 "tool", "history"), closed=True),
    "LedgerEntryInput": obj({
        "id": ref("PanelId"),
        "customer": ref("PanelId"),
        "kind": enum(ledger_policy.KINDS),
        "amount": ref("SignedMoneyInput"),
        "funding": enum(ledger_policy.FUNDING, "Fixed by the kind where only one is possible (a deposit is "
                                               "deposited, a promo credit promotional)."),
        "order": ref("PanelId"),
        "processor_fee": ref("MoneyInput"),
        "method": string(maxLength=64),
        "source": string(maxLength=120),
        "at": ref("TimeInput"),
        "payment_fingerprint": string("Deposits only: kept as an identifier of the account (terms-12-promo).",
                                      maxLength=255),
    }, required=("id", "customer", "kind", "amount"),
        description="Amounts are positive; only an adjustment carries a sign. processor_fee: on deposits and "
                    "chargebacks only."),
    "LedgerBatch": obj({
        "entries": array(ref("LedgerEntryInput"), minItems=1, maxItems=MAX_BATCH),
    }, required=("entries",), description="All or nothing: one bad entry stores none, and the answer lists "
                                          "every problem.",
        examples=[{"entries": [{"id": "d-1", "customer": "alice", "kind": "deposit", "amount": "100.00",
                                "processor_fee": "3.20", "at": "2026-07-01T09:00:00Z"}]}]),
    "LedgerResult": obj({
        "stored": integer(), "duplicates": integer("Entries already stored (by id), skipped."),
    }, required=("stored", "duplicates"), closed=True),

    # --- claims ---------------------------------------------------------------------------------
    "ClaimRequest": obj({
        "order": ref("PanelId"),
        "kind": enum(claims_policy.KINDS, "An unknown kind is a 400 invalid_kind."),
        "current_count": integer("The count on the target now (refills)."),
        "at": {**ref("TimeInput"), "description": "When the claim was made, if not now (the panel passing on a "
                                                  "claim it took earlier). Not taken from a customer session: its "
                                                  "claims are decided as of now."},
    }, required=("order", "kind"), examples=[{"order": "1001", "kind": "non_delivery"}]),
    "NewClaim": {"allOf": [ref("ClaimRequest"), obj({
        "description": string("The customer's words."),
        "requester_email": string("Where the answer goes, when the customer has no e-mail on record (keys only: a "
                                  "customer session is answered at the account's address).",
                                  format="email"),
        "attachments": ref("Attachments"),
    })], "examples": [{"order": "1001", "kind": "refill", "current_count": 950}]},
    "ExpectedReturn": obj({
        "rule": string(), "deposited": ref("Money"), "promotional": ref("Money"),
    }, required=("rule", "deposited", "promotional"), closed=True,
        description="What a Partial or Canceled order returns to the Balance, by funding."),
    "ClaimDecision": obj({
        "order": string(), "kind": enum(claims_policy.KINDS), "decision": ref("Decision"), "rules": ref("Rules"),
        "reasons": array(ref("Reason")),
        "refill_quantity": nullable(integer("How many to refill, for an eligible refill.")),
        "expected_return": ref("ExpectedReturn"), "clauses": ref("Clauses"),
    }, required=("order", "kind", "decision", "rules", "reasons", "refill_quantity", "clauses"), closed=True),
    "ClaimReceipt": obj({
        "reference": string("The claim ticket's reference."), "claim": integer(minimum=1),
        "created": {"type": "boolean", "description": "false: the open claim on this order and kind."},
        "order": string(), "kind": enum(claims_policy.KINDS), "decision": ref("Decision"), "rules": ref("Rules"),
        "reasons": array(ref("Reason")), "refill_quantity": nullable(integer()),
        "status": enum(("open", "accepted", "rejected")), "clauses": ref("Clauses"),
    }, required=("reference", "claim", "created", "order", "kind", "decision", "rules", "reasons",
                 "refill_quantity", "status", "clauses"), closed=True),

    # --- money ----------------------------------------------------------------------------------
    "MoneyAsk": obj({
        "customer": {**ref("PanelId"), "description": "Required with a key. A customer session may leave it out "
                                                      "(itself); naming anyone else is a 404."},
        "description": string("The customer's words.", maxLength=10_000),
        "requester_email": string("Where the answer goes, when the customer has no e-mail on record (keys only: a "
                                  "customer session is answered at the account's address).",
                                  format="email", maxLength=254),
        "confirmed_amount": {**ref("MoneyInput"), "description":
                             "Filing: the figure the customer was shown and accepted. A different one is a 409 "
                             "figures_changed with the new figure in fields.amount."},
    }, required=("customer",)),
    "RefundAsk": {"allOf": [ref("MoneyAsk"), obj({
        "method": enum(money_policy.METHODS, "balance: credit Deposited Funds to the Balance (an order's "
                                             "refund); original: to the payment method."),
        "order": {**ref("PanelId"), "description": "The order refunded; required for method=balance."},
        "amount": {**ref("MoneyInput"), "description": "Leave it out for all that is available."},
    }, required=("method",))], "examples": [{"customer": "alice", "method": "original", "amount": "20.00"}]},
    "WithdrawalAsk": {"allOf": [ref("MoneyAsk"), obj({
        "amount": {**ref("MoneyInput"), "description": "Leave it out for all that is available."},
    })], "examples": [{"customer": "alice", "amount": "20.00"}]},
    "ClosureAsk": {"allOf": [ref("MoneyAsk")], "examples": [{"customer": "alice"}]},
    "RestorationAsk": {"allOf": [ref("MoneyAsk")], "examples": [{"customer": "alice"}]},
    "Deduction": obj({
        "kind": enum(("processor_fee", "promotional_credit", "withdrawal_fee")),
        "amount": ref("Money"), "text": string(),
        "deposit": string("For a processor fee: the deposit it was charged on."),
        "words": array(ref("Words"), "The sentences of `text`, stored to be translated (see Words)."),
    }, required=("kind", "amount", "text"), closed=True),
    "Figures": obj(FIGURES, required=FIGURES_REQUIRED, closed=True,
                   description="The Terms' figures for a money request (desk.policy.money)."),
    "Quote": obj({"customer": string(), **FIGURES, "clauses": ref("Clauses")},
                 required=("customer", *FIGURES_REQUIRED, "clauses"), closed=True,
                 description="The figures the customer would be shown now; nothing is stored."),
    "MoneyRequest": obj({
        "id": integer(minimum=1, maximum=MAX_ID),
        "reference": string("The Billing ticket it rides on."),
        "kind": enum(("refund", "withdrawal", "closure", "restoration")),
        "customer": string(),
        "order": nullable(string()),
        "method": nullable(enum(money_policy.METHODS)),
        "status": enum(MONEY_STATUSES),
        "status_text": string(),
        "decision": ref("Decision"),
        "rules": ref("Rules"),
        "quote": ref("Figures"),
        "amount": nullable(ref("Money")),
        "fee_rate": nullable(string(pattern=r"^[0-9]+\.[0-9]+$")),
        "confirmed_at": nullable(ref("Time")),
        "verification_required": {"type": "boolean"},
        "created_at": ref("Time"),
        "created": {"type": "boolean", "description": "Filing only: false when this is the open request for the "
                                                      "same thing."},
        "clauses": ref("Clauses"),
    }, required=("id", "reference", "kind", "customer", "order", "method", "status", "status_text", "decision",
                 "rules", "quote", "amount", "fee_rate", "confirmed_at", "verification_required", "created_at",
                 "clauses"), closed=True),
    "MoneyAnswer": obj({
        "choice": enum(("confirm", "keep_balance")),
        "amount": {**ref("MoneyInput"), "description": "The figure the customer was shown; when the Terms now give "
                                                       "another, a 409 figures_changed with the new one."},
    }, required=("choice",), examples=[{"choice": "confirm"}]),

    # --- accounts, reports, privacy ----------------------------------------------------------
    "AccountRequestInput": obj({
        "customer": {**ref("PanelId"), "description": "Required with a key. A customer session may leave it out "
                                                      "(itself); naming anyone else is a 404."},
        "category": enum(accounts_policy.CATEGORIES),
        "accounts_wanted": integer(f"Accounts in all: more than {accounts_policy.FREE_ACCOUNTS} (up to that many "
                                   "need no request).", minimum=accounts_policy.FREE_ACCOUNTS + 1,
                                   maximum=MAX_ACCOUNTS),
        "business_need": string("What the accounts are for.", minLength=MIN_NEED, maxLength=MAX_NEED),
    }, required=("customer", "category", "accounts_wanted", "business_need"),
        examples=[{"customer": "alice", "category": "agency", "accounts_wanted": 25,
                   "business_need": "We run the pages of 25 restaurant clients."}]),
    "AccountRequestReceipt": obj({
        "reference": string(), "id": integer(minimum=1), "created": {"type": "boolean"},
        "customer": nullable(string()), "category": enum(accounts_policy.CATEGORIES),
        "accounts_wanted": integer(), "decision": ref("Decision"), "rules": ref("Rules"),
        "reasons": array(ref("Reason")), "clauses": ref("Clauses"),
    }, required=("reference", "id", "created", "customer", "category", "accounts_wanted", "decision", "rules",
                 "reasons", "clauses"), closed=True),
    "ReportInput": obj({
        "category": enum(abuse_policy.CATEGORIES, "The AUP section (3.1-4.8). Rights-holder notices are 3.4 by "
                                                  "default."),
        "reporter": ref("Requester"),
        "links": {"anyOf": [array(string(maxLength=2048), maxItems=20), string()],
                  "description": "The links reported (a single string is one link)."},
        "orders": {"anyOf": [array(string(maxLength=64), maxItems=20), string()],
                   "description": "Order ids reported, when the reporter knows them."},
        "description": string(maxLength=20_000),
        "evidence": ref("Attachments"),
        "csam": {"type": "boolean", "description": "3.1 only: the files are hashed, never stored "
                                                   "(aup-csam-handling)."},
    }, required=("reporter",), description="reporter.email is required; a report without a link or order and "
                                           "a description waits as needs_info."),
    "AbuseReport": {"allOf": [ref("ReportInput")], "description": "category is required.",
                    "examples": [{"category": "3.2", "reporter": {"email": "rita@example.org", "name": "Rita"},
                                  "links": ["https://www.instagram.com/p/P1001/"],
                                  "description": "This page runs a fake fundraiser."}]},
    "RightsReport": {"allOf": [ref("ReportInput"), obj({
        "right": enum(abuse_policy.RIGHTS),
        "work": string("The work or mark.", maxLength=300),
        "registration": string(maxLength=120),
        "good_faith": {"type": "boolean", "description": "The good-faith statement: required (true)."},
    }, required=("right", "work", "good_faith"))],
        "examples": [{"reporter": {"email": "legal@brand.example", "name": "Brand Legal"}, "right": "trademark",
                      "work": "BRAND", "good_faith": True, "links": ["https://www.instagram.com/p/P1001/"],
                      "description": "This page sells counterfeits of our mark."}]},
    "ReportReceipt": obj({
        "reference": string(pattern=r"^R-[0-9]{2}-[0-9]{6,}$"),
        "kind": enum(("abuse", "rights")),
        "category": enum(abuse_policy.CATEGORIES),
        "status": string("What the reporter is told of the report's state."),
        "confirmation": string("Whether the reporter must follow the link mailed to them."),
        "needs_info": nullable(obj({"rule": string(), "text": string()}, required=("rule", "text"), closed=True,
                                   description="What the report lacks before it can be worked (aup-6-report).")),
    }, required=("reference", "kind", "category", "status", "confirmation", "needs_info"), closed=True),
    "PrivacyRequestInput": obj({
        "requester": ref("Requester"),
        "email": string("The same as requester.email, for a client that sends it flat.", format="email"),
        "rights": {"anyOf": [array(enum([*privacy_policy.RIGHTS, *privacy_policy.ALIASES]), minItems=1),
                             enum([*privacy_policy.RIGHTS, *privacy_policy.ALIASES])],
                   "description": "The rights asked for (California's know and delete are access and deletion)."},
        "jurisdiction": enum(privacy_policy.JURISDICTIONS, "Where the requester is: it sets the legal deadline."),
        "details": string(maxLength=5000),
        "login": string("The account's login, when several accounts share the e-mail.", maxLength=120),
    }, required=("rights", "jurisdiction"), description="requester.email (or email) is required too.",
        examples=[{"requester": {"email": "alice@alice-shop.example", "name": "Alice"}, "rights": ["access"],
                   "jurisdiction": "eu"}]),
    "PrivacyRequestReceipt": obj({
        "reference": string(),
        "status": enum(PRIVACY_STATUSES),
        "rights": array(enum(privacy_policy.RIGHTS)),
        "jurisdiction": enum(privacy_policy.JURISDICTIONS),
        "received_at": ref("Time"),
        "deadline": nullable(ref("Time")),
        "verification": string("How the requester proves the e-mail (privacy-10-verify)."),
    }, required=("reference", "status", "rights", "jurisdiction", "received_at", "deadline", "verification"),
        closed=True, description="The same answer whether or not an account has the e-mail."),
}

for _item, _name in (("Ticket", "TicketPage"), ("Order", "OrderPage"), ("MoneyRequest", "MoneyRequestPage")):
    SCHEMAS[_name] = obj({
        "items": array(ref(_item), "At most `limit`, newest first."),
        "next_cursor": nullable(string("Send it back as `?cursor=` for the next page; null on the last.")),
    }, required=("items", "next_cursor"), closed=True, description="One page of a list (see Pagination).")


def error_response(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


RESPONSES = {
    "BadRequest": error_response("The body is not a JSON object sent as application/json (malformed_json), or "
                                 "the cursor is damaged (bad_cursor)."),
    "Unauthorized": error_response("No valid API key (`Authorization: Bearer <key>`) and, where the operation "
                                   "takes one, no customer session."),
    "Forbidden": error_response("forbidden: the key's role, or a customer session, may not do this; "
                                "csrf_failed: a customer session's unsafe call without a valid X-CSRFToken."),
    "NotFound": error_response("Nothing with that id is visible to the caller (a customer session sees its "
                               "own only)."),
    "Conflict": error_response("The state changed (already decided; figures that moved)."),
    "TooLarge": error_response("The body or an attachment is too large."),
    "UnsupportedType": error_response("An attachment is of a type the desk does not take."),
    "Invalid": error_response("The input is readable but wrong: `fields` names every problem."),
    "TooManyRequests": error_response("Rate limited.", {"Retry-After": {
        "description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 0}}}),
}

LOCATION = {"Location": {"description": "Where the ticket or request can be read.",
                         "schema": {"type": "string", "format": "uri-reference"}}}
KEYED = [{"bearerAuth": []}]
# A key, or the customer's session: reads need the cookie alone, writes the CSRF header too.
KEY_OR_SESSION_READ = [{"bearerAuth": []}, {"customerSession": []}]
KEY_OR_SESSION_WRITE = [{"bearerAuth": []}, {"customerSession": [], "csrfToken": []}]
SESSION_ONLY = [{"customerSession": []}]
PUBLIC: list = []


def takes_session(security: list) -> bool:
    return any("customerSession" in requirement for requirement in security)


def _json(schema_name: str, description: str, headers: dict | None = None, links: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": ref(schema_name)}}}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


def _link(operation_id: str, parameter: str, pointer: str, description: str) -> dict:
    return {"operationId": operation_id, "parameters": {parameter: f"$response.body#/{pointer}"},
            "description": description}


# What an answer leads to (OpenAPI links): the ticket a filing rides on, a money request's steps.
TICKET_LINKS = {
    "GetTicket": _link("get_ticket", "reference", "reference", "The ticket."),
    "AddMessage": _link("add_message", "reference", "reference", "Reply on the ticket."),
}
MONEY_LINKS = {
    "GetMoneyRequest": _link("get_money_request", "request_id", "id", "The request's state."),
    "ConfirmMoneyRequest": _link("confirm_money_request", "request_id", "id", "The customer's answer."),
    "CancelMoneyRequest": _link("cancel_money_request", "request_id", "id", "Take the request back."),
    "GetTicket": TICKET_LINKS["GetTicket"],
}


def operation(operation_id: str, summary: str, tag: str, responses: dict, *, errors=(), body: str | None = None,
              security=KEYED, parameters=None, description: str | None = None, roles=API_KEY_ROLES) -> dict:
    """One operation: `responses` are its successes, `errors` the codes of the shared error
    responses it can give (401 and 429 are added for keyed operations, 429 for all, 403 when
    not every key role may call it, when it takes no customer session, and when a session's
    call needs the CSRF header). `x-key-roles`: the roles whose keys it takes."""
    codes = set(errors) | {"429"}
    if security:
        codes.add("401")
        if set(roles) != set(API_KEY_ROLES) or security == KEY_OR_SESSION_WRITE or not takes_session(security):
            codes.add("403")
    if body:
        codes |= {"400", "413"}
    names = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound", "409": "Conflict",
             "413": "TooLarge", "415": "UnsupportedType", "422": "Invalid", "429": "TooManyRequests"}
    op = {
        "operationId": operation_id, "summary": summary, "tags": [tag], "security": security,
        "responses": {**responses, **{code: {"$ref": f"#/components/responses/{names[code]}"}
                                      for code in sorted(codes)}},
    }
    if security:
        op["x-key-roles"] = list(roles)
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


def path_parameter(name: str, schema: dict, description: str, example=None) -> dict:
    parameter = {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
    if example is not None:
        parameter["example"] = example
    return parameter


def query_parameter(name: str, schema: dict, description: str, required: bool = False, example=None) -> dict:
    parameter = {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
    if example is not None:
        parameter["example"] = example
    return parameter


SEARCH_PARAMETERS = [
    query_parameter("q", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY},
                    "What to look for, as in a web search: words (all of them), \"a phrase\", -left-out, "
                    "`or` between words; or a ticket reference, an e-mail address or an order id, found exactly.",
                    required=True, example="refund"),
    query_parameter("queue", enum(QUEUES), "Only this queue (within the key's queues)."),
    query_parameter("status", enum(("open", "any", *TICKET_STATUSES)), "open: every open status; any (the "
                                                                      "default): every status."),
    query_parameter("kind", enum(KIND_QUEUES), "Only this kind of ticket."),
    query_parameter("assignee", string(pattern="^(none|[0-9]+)$"), "A staff id, or none: unassigned."),
    query_parameter("tag", string(maxLength=MAX_TAG), "Only tickets with this tag."),
    query_parameter("cursor", string(), "The next_cursor of the page before."),
    query_parameter("limit", integer(minimum=1, maximum=100), "Results per page (50 by default)."),
]

PANEL_ID = path_parameter("panel_id", {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"},
                          "The panel's id for the record.", "alice")
REFERENCE = path_parameter("reference", {"type": "string", "minLength": 1}, "The ticket's reference (any case).",
                           "T-26-000001")
REQUEST_ID = path_parameter("request_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                            "The money request's id.", 1)


def query_parameter(name: str, schema: dict, description: str, example=None) -> dict:
    parameter = {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    if example is not None:
        parameter["example"] = example
    return parameter


PAGE = [
    query_parameter("cursor", {"type": "string"}, "The `next_cursor` of the page before; left out for the first "
                                                  "page. A damaged one is a 400 bad_cursor."),
    query_parameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                    f"Items per page, 1-{MAX_LIMIT} ({DEFAULT_LIMIT} when left out); outside that a 422."),
]
CUSTOMER_FILTER = query_parameter(
    "customer", {"type": "string", "minLength": 1, "maxLength": 64},
    "The panel's customer id; an unknown one is a 404. A customer session may name only itself (anyone else is "
    "the same 404) or leave it out.", "alice")

MONEY_KINDS = {
    "refunds": ("refund", "RefundAsk", "A refund (Terms §13) to the payment method or, for an order, the Balance."),
    "withdrawals": ("withdrawal", "WithdrawalAsk", "A withdrawal of Deposited Funds (Terms §14), with its fee."),
    "closures": ("closure", "ClosureAsk", "Closing the account (Terms §15): Deposited Funds paid out, "
                                          "Promotional Credit forfeited."),
    "restorations": ("restoration", "RestorationAsk", "Restoring a Balance frozen for dormancy (Terms §30)."),
}


def _paths() -> dict:
    paths = {
        "/openapi.json": {"get": operation(
            "openapi_document", "This document", "meta",
            {"200": {"description": "The OpenAPI 3.1 document.",
                     "content": {"application/json": {"schema": {"type": "object"}}}}},
            security=PUBLIC)},
        "/me": {"get": operation(
            "me", "The signed-in customer, its Balance and its CSRF token", "customer",
            {"200": _json("Me", "The customer of the session.")}, security=SESSION_ONLY, roles=(),
            description="Only for a customer session: a key has no customer of its own (403).")},
        "/tickets": {
            "get": operation(
                "list_tickets", "A page of tickets, newest filed first", "tickets",
                {"200": _json("TicketPage", "One page.")}, errors=("400", "404", "422"),
                security=KEY_OR_SESSION_READ,
                parameters=[*PAGE, {**CUSTOMER_FILTER, "description": CUSTOMER_FILTER["description"]
                                    + " For a key: the tickets filed for that customer."},
                            query_parameter("status", {"type": "string", "enum": list(TICKET_STATUSES)},
                                            "Only tickets in this status."),
                            query_parameter("kind", {"type": "string", "enum": list(KIND_QUEUES)},
                                            "Only tickets of this kind.")],
                description="A key lists the tickets of its queues (support, claims, billing); a customer "
                            "session its own, as the portal shows them (filed for the account, or sent from "
                            "its verified address; never trust & safety's cases, never internal notes). Filters "
                            "combine."),
            "post": operation(
                "create_ticket", "File a ticket", "tickets",
                {"201": _json("Ticket", "Filed; the requester is acknowledged by e-mail.", LOCATION, TICKET_LINKS)},
                errors=("404", "409", "415", "422"), body="NewTicket", security=KEY_OR_SESSION_WRITE,
                description="Card numbers and such are redacted from the subject and body on intake. A customer "
                            f"session files for itself, from the account's own address, a question of kind "
                            f"{' or '.join(CUSTOMER_KINDS)} (claims, money requests and more accounts have "
                            "operations of their own: 422 naming them), about one of its own orders if any "
                            "(someone else's: 404); requester, customer and priority are not its to set. "
                            "409 no_email when the account has no address to answer.")},
        "/tickets/{reference}": {"get": operation(
            "get_ticket", "A ticket with its conversation", "tickets",
            {"200": _json("Ticket", "The ticket.", links={"AddMessage": TICKET_LINKS["AddMessage"]})},
            errors=("404",), parameters=[REFERENCE], security=KEY_OR_SESSION_READ,
            description="A ticket outside the key's queues, or not the session's customer's, is a 404, as a "
                        "missing one.")},
        "/tickets/{reference}/messages": {"post": operation(
            "add_message", "Reply on a ticket (or add an internal note)", "tickets",
            {"201": _json("Message", "Added; a reply reopens a waiting or resolved ticket.")},
            errors=("403", "404", "409", "415", "422"), body="NewMessage", parameters=[REFERENCE],
            security=KEY_OR_SESSION_WRITE,
            description="A panel key or a customer session replies as the requester; a staff key as staff, and "
                        "only a staff key may add an internal note (403). A ticket merged into another takes no "
                        "more: 409 merged (its merged_into names the one to write on).")},
        "/search/tickets": {"get": operation(
            "search_tickets", "Search tickets", "tickets",
            {"200": _json("SearchResults", "One page of results; no total is counted.")},
            errors=("422",), parameters=SEARCH_PARAMETERS, roles=("staff",),
            description="Full-text search over subjects, messages and internal notes, requesters, references, "
                        "order ids and links, within the key's queues; the same search as the staff queue's. "
                        "A query with nothing to look for (no letters or digits, only left-out words) is a 422 "
                        "invalid_query.")},
        "/customers/{panel_id}": {
            "get": operation(
                "get_customer", "A customer mirror with its balance", "mirror",
                {"200": _json("Customer", "The customer.")}, errors=("404",), parameters=[PANEL_ID],
                security=KEY_OR_SESSION_READ,
                description="A customer session reads itself only; anyone else is the 404 of an unknown customer."),
            "put": operation(
                "put_customer", "Create or update a customer mirror", "mirror",
                {"201": _json("Customer", "Created."), "200": _json("Customer", "Updated.")},
                errors=("404", "422"), body="CustomerInput", parameters=[PANEL_ID], roles=("panel",))},
        "/orders": {"get": operation(
            "list_orders", "A page of a customer's orders, newest first", "mirror",
            {"200": _json("OrderPage", "One page.")}, errors=("400", "404", "422"),
            parameters=[*PAGE, {**CUSTOMER_FILTER, "description": "The panel's customer id: required with a key "
                                "(422 without; an unknown one is a 404). A customer session lists its own and may "
                                "name only itself (anyone else is the same 404)."}],
            security=KEY_OR_SESSION_READ,
            description="Newest first by the order's time on the panel.")},
        "/orders/{panel_id}": {
            "get": operation(
                "get_order", "An order mirror with its status history", "mirror",
                {"200": _json("Order", "The order.")}, errors=("404",),
                parameters=[{**PANEL_ID, "example": "1001"}], security=KEY_OR_SESSION_READ,
                description="A customer session reads its own orders only; someone else's is the 404 of a "
                            "missing one."),
            "put": operation(
                "put_order", "Create or update an order mirror", "mirror",
                {"201": _json("Order", "Created."), "200": _json("Order", "Updated.")},
                errors=("404", "422"), body="OrderInput", parameters=[{**PANEL_ID, "example": "1001"}],
                roles=("panel",),
                description="A customer the desk has not seen gets a bare record a later PUT completes. The "
                            "status history grows from successive updates.")},
        "/ledger": {"post": operation(
            "post_ledger", "Append ledger entries", "mirror",
            {"200": _json("LedgerResult", "Stored (entries already stored by id are skipped).")},
            errors=("422",), body="LedgerBatch", roles=("panel",),
            description="Idempotent by entry id; all or nothing per batch.")},
        "/claims/evaluate": {"post": operation(
            "evaluate_claim", "The Terms' decision on a claim, nothing stored", "claims",
            {"200": _json("ClaimDecision", "The decision with its reasons and clauses.")},
            errors=("404", "422"), body="ClaimRequest", security=KEY_OR_SESSION_WRITE,
            description="A customer session asks about its own orders only (someone else's is the 404 of a "
                        "missing one), as of now.")},
        "/claims": {"post": operation(
            "file_claim", "File a claim ticket with its decision", "claims",
            {"201": _json("ClaimReceipt", "Filed on a ticket in the Claims queue.", LOCATION, TICKET_LINKS),
             "200": _json("ClaimReceipt", "The open claim on this order and kind.", LOCATION, TICKET_LINKS)},
            errors=("404", "415", "422"), body="NewClaim", security=KEY_OR_SESSION_WRITE,
            description="One open claim per order and kind. A customer session files on its own orders only "
                        "(someone else's is the 404 of a missing one), as of now, answered at the account's "
                        "address.")},
        "/account-requests": {"post": operation(
            "file_account_request", "Ask for more than 10 accounts (terms-4-multi-account)", "accounts",
            {"201": _json("AccountRequestReceipt", "Filed on a ticket in the Support queue.", LOCATION, TICKET_LINKS),
             "200": _json("AccountRequestReceipt", "The customer's open request.", LOCATION, TICKET_LINKS)},
            errors=("404", "422"), body="AccountRequestInput", security=KEY_OR_SESSION_WRITE,
            description="A customer session asks for itself: `customer` may be left out, and naming anyone "
                        "else is the 404 of an unknown customer.")},
        "/money-requests": {"get": operation(
            "list_money_requests", "A page of money requests, newest first", "money",
            {"200": _json("MoneyRequestPage", "One page.")}, errors=("400", "404", "422"),
            parameters=[*PAGE, {**CUSTOMER_FILTER, "description": CUSTOMER_FILTER["description"]
                                + " A key without it lists every customer's."}],
            security=KEY_OR_SESSION_READ, description="A customer session lists its own.")},
        "/money-requests/{request_id}": {"get": operation(
            "get_money_request", "A money request's state and figures", "money",
            {"200": _json("MoneyRequest", "The request.", links=MONEY_LINKS)}, errors=("404",),
            parameters=[REQUEST_ID], security=KEY_OR_SESSION_READ,
            description="Someone else's request is a 404 to a customer session, as a missing one.")},
        "/money-requests/{request_id}/confirm": {"post": operation(
            "confirm_money_request", "The customer's answer to the figures", "money",
            {"200": _json("MoneyRequest", "The request, moved on (verification, review) or closed "
                                          "(kept_balance).", links=MONEY_LINKS)},
            errors=("404", "409", "422"), body="MoneyAnswer", parameters=[REQUEST_ID], roles=("panel",),
            security=KEY_OR_SESSION_WRITE,
            description="The panel's pages ask the customer and pass the answer on (or the customer's session "
                        "answers for its own request). 409 wrong_status when the request is not awaiting "
                        "confirmation; figures_changed when the figures moved (the new figure in fields.amount, "
                        "and the customer is asked again).")},
        "/money-requests/{request_id}/cancel": {"post": operation(
            "cancel_money_request", "The customer takes a request back", "money",
            {"200": _json("MoneyRequest", "Cancelled.")}, errors=("404", "409"), parameters=[REQUEST_ID],
            roles=("panel",), security=KEY_OR_SESSION_WRITE,
            description="409 once the request is decided. No body. A customer session cancels its own only.")},
        "/reports/abuse": {"post": operation(
            "report_abuse", "Report abuse (AUP §3-§4)", "intake",
            {"202": _json("ReportReceipt", "Kept; the reporter confirms the e-mail by a link (serious harm is "
                                           "reviewed at once).")},
            errors=("415", "422"), body="AbuseReport", security=PUBLIC,
            description="No key; rate limited as the public forms are.")},
        "/reports/rights": {"post": operation(
            "report_rights", "A rights holder's notice (Terms §23)", "intake",
            {"202": _json("ReportReceipt", "Kept; the reporter confirms the e-mail by a link.")},
            errors=("415", "422"), body="RightsReport", security=PUBLIC,
            description="No key; rate limited as the public forms are.")},
        "/privacy-requests": {"post": operation(
            "file_privacy_request", "A privacy-rights request (Privacy §10)", "intake",
            {"202": _json("PrivacyRequestReceipt", "Kept; a one-time code was e-mailed to the address.")},
            errors=("422",), body="PrivacyRequestInput", security=PUBLIC,
            description="No key; rate limited as the public forms are. Nothing is done or disclosed until the "
                        "requester enters the code mailed to the address.")},
    }
    for plural, (kind, body, summary) in MONEY_KINDS.items():
        paths[f"/{plural}/quote"] = {"post": operation(
            f"quote_{kind}", f"Quote: {summary}", "money",
            {"200": _json("Quote", "The figures; nothing stored.")},
            errors=("404", "422"), body=body, security=KEY_OR_SESSION_WRITE,
            description="A customer session quotes for itself: `customer` may be left out, and naming anyone "
                        "else is the 404 of an unknown customer.")}
        paths[f"/{plural}"] = {"post": operation(
            f"file_{kind}", f"File: {summary}", "money",
            {"201": _json("MoneyRequest", "Filed on a Billing ticket.", LOCATION, MONEY_LINKS),
             "200": _json("MoneyRequest", "The open request for the same thing.", LOCATION, MONEY_LINKS)},
            errors=("404", "409", "422"), body=body, security=KEY_OR_SESSION_WRITE,
            description="One open request per customer and kind (refunds: per order). "
                        "confirmed_amount other than the Terms' figure: 409 figures_changed. A customer "
                        "session files for itself (`customer` may be left out; anyone else is the 404 of an "
                        "unknown customer), answered at the account's own address.")}
    return paths


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "desk JSON API", "version": "1", "description": DESCRIPTION},
    "servers": [{"url": "/api/v1"}],
    "tags": [
        {"name": "customer", "description": "The signed-in customer (customer session)."},
        {"name": "tickets", "description": "Tickets and their conversation."},
        {"name": "mirror", "description": "The panel's customers, orders and ledger (written by panel keys)."},
        {"name": "claims", "description": "Claims on orders (Terms §5, §7, §9-§11)."},
        {"name": "money", "description": "Refunds, withdrawals, closures, restorations (Terms §13-§18, §30)."},
        {"name": "accounts", "description": "More than 10 accounts (Terms §4)."},
        {"name": "intake", "description": "The public intakes: no key."},
        {"name": "meta", "description": "This document."},
    ],
    "security": KEYED,
    "paths": _paths(),
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": f"An API key (roles: {', '.join(API_KEY_ROLES)}), made with "
                               "`flask desk api-key create NAME --role ROLE`."},
            "customerSession": {
                "type": "apiKey", "in": "cookie", "name": "session",
                "description": "The customer portal's session cookie, set when the customer signs in "
                               "(/portal/sign-in, or the panel's single sign-on at /portal/sso). Only without an "
                               "Authorization header; the session acts for that customer alone."},
            "csrfToken": {
                "type": "apiKey", "in": "header", "name": CSRF_HEADER,
                "description": "The csrf_token of GET /me: required with customerSession on every POST, PUT, "
                               "PATCH and DELETE (403 csrf_failed without it)."}},
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(DOCUMENT)
