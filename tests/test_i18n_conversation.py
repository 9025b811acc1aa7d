"""What the desk itself posts into a ticket's conversation (issue 13), in the ticket's
language: money requests' figures and answers, privacy answers, claim decisions and the
panel's outcome, a deadline extension. Each kind is filed for a requester whose language
is Spanish and checked for known Spanish words and amounts written the Spanish way, and
for an English requester the English text is what it always was. A pseudo-locale run
lists any English left in the messages: a sentence nobody made a message id.

The requester's language is their account's (`Customer.locale`): a ticket filed through
the panel's API on their behalf records it, as the portal records the page's."""
import re

import pytest
from sqlalchemy import select

from conftest import ledger_entry as entry
from desk.claims.models import Customer
from desk.extensions import db
from desk.tickets.models import Message, Ticket
from test_i18n import pseudo_dir, unmarked
from test_money_api import funded, staff_act

RULE_ID = re.compile(r"\b(?:terms|privacy|aup)-[\w.-]*\w")
TERMS_QUOTED = re.compile(r"^[^\n]*: \u201c[^\n]*\u201d$", re.M)  # a clause in the Terms' own (English) words


def without_the_terms(text: str) -> str:
    return TERMS_QUOTED.sub("", text)


def speaks(app, panel_id: str, locale: str) -> None:
    """The customer's account has chosen `locale` (the portal's switcher saves it so)."""
    with app.app_context():
        db.session.execute(select(Customer).where(Customer.panel_id == panel_id)).scalar_one().locale = locale
        db.session.commit()


def told(app, reference) -> list[str]:
    """The ticket's public messages the desk or staff wrote, oldest first."""
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        return [m.body_text for m in db.session.execute(
            select(Message).where(Message.ticket_id == ticket.id, Message.internal.is_(False),
                                  Message.author_kind != "requester").order_by(Message.id)).scalars()]


def subject_and_opening(app, reference) -> tuple[str, str]:
    """The ticket's subject and its first message, as the requester reads them."""
    with app.app_context():
        ticket = db.session.execute(select(Ticket).where(Ticket.reference == reference)).scalar_one()
        opening = db.session.execute(select(Message.body_text).where(Message.ticket_id == ticket.id)
                                     .order_by(Message.id)).scalars().first()
        return ticket.subject, opening


def locale_of(app, reference) -> str | None:
    with app.app_context():
        return db.session.execute(select(Ticket.locale).where(Ticket.reference == reference)).scalar_one()


# --- money requests --------------------------------------------------------------------

REFUND = {
    "en": ["Here are the figures of your request. Nothing happens until you confirm them; you may also keep your "
           "Balance as it is. Open the link below to confirm or keep your Balance.",
           "Requested: 100.00 of Deposited Funds",
           "  minus 3.20: Non-refundable processor fee on deposit alice-d1 of 100.00 (",
           "You receive: 76.80 to your original payment method",
           "(terms-13-refund)"],
    "es": ["Estas son las cifras de su solicitud. No ocurre nada hasta que usted las confirme",
           "Solicitado: 100,00 de Fondos Depositados",
           "  menos 3,20: ", " 100,00 ",
           "  menos 20,00: ",
           "Usted recibe: 76,80 en su método de pago original",
           "(terms-13-refund)"],
}
CONFIRMED = {"en": "Your request is with our billing team for review. Thank you for confirming.",
             "es": "Su solicitud está en revisión por nuestro equipo de facturación. Gracias por confirmar."}
APPROVED = {"en": "Your refund was approved: 76.80 goes to your original payment method. How long it takes to "
                  "arrive depends on your bank or payment provider.",
            "es": "Su reembolso fue aprobado: 76,80 van a su método de pago original."}


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_refund_is_told_in_the_requesters_language_from_figures_to_approval(app, client, auth, panel, locale):
    funded(panel)
    speaks(app, "alice", locale)
    body = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    reference = body["reference"]
    assert locale_of(app, reference) == locale
    [figures] = told(app, reference)
    for line in REFUND[locale]:
        assert line in figures, (line, figures)
    if locale == "es":
        assert "Requested" not in without_the_terms(figures) and "Deposited Funds" not in without_the_terms(figures)
    assert panel.post(f"/money-requests/{body['id']}/confirm",
                      {"choice": "confirm", "amount": "76.80"}).status_code == 200
    assert told(app, reference)[-1].startswith(CONFIRMED[locale])
    # Staff act on an English page; the customer is answered in their own language.
    assert staff_act(client, auth, reference, "approve").status_code == 302
    approval = told(app, reference)[-1]
    assert approval.startswith(APPROVED[locale]) and "(terms-13-refund)" in approval
    if locale == "es":
        assert "Solicitado: 100,00" in approval and "approved" not in approval


@pytest.mark.parametrize("locale, subject, first", [
    ("en", "Refund to the payment method: order 5001", "Refund to the payment method: order 5001 asked for by customer alice."),
    ("es", "Reembolso al método de pago: Pedido 5001",
     "Reembolso al método de pago: Pedido 5001: solicitado por el cliente alice."),
])
def test_a_request_the_panel_files_is_subjected_in_the_requesters_language(app, panel, locale, subject, first):
    """Filed with no words of the customer's own: the subject and first message the desk
    writes for them are theirs to read in the portal, so in their language."""
    funded(panel)
    panel.order("5001", charge="10.00", charge_deposited="10.00", status="canceled")
    speaks(app, "alice", locale)
    body = panel.post("/refunds", {"customer": "alice", "method": "original", "order": "5001"}).get_json()
    assert subject_and_opening(app, body["reference"]) == (subject, first)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_declined_withdrawal_keeps_the_staff_reason_and_says_the_rest_in_the_requesters_language(
        app, client, auth, panel, locale):
    funded(panel, fee="0.00", promo=None)
    speaks(app, "alice", locale)
    body = panel.post("/withdrawals", {"customer": "alice", "confirmed_amount": "95.00"}).get_json()
    reason = "Payment method no longer supports payouts."
    assert staff_act(client, auth, body["reference"], "decline", reason).status_code == 302
    declined = told(app, body["reference"])[-1]
    expected = {"en": f"We are sorry: your withdrawal request was declined.\n\n{reason}\n\nThe processing fee of "
                      "5.00 was returned to your Balance.",
                "es": f"Lo sentimos: su solicitud de retiro fue rechazada.\n\n{reason}\n\nLa comisión de "
                      "procesamiento de 5,00 se devolvió a su Saldo."}
    assert declined == expected[locale]


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_withdrawal_cancelled_by_an_order_and_a_kept_balance_are_told_in_the_requesters_language(
        app, panel, locale):
    from conftest import iso
    from desk.types import utcnow

    funded(panel)
    speaks(app, "alice", locale)
    body = panel.post("/withdrawals", {"customer": "alice", "amount": "50.00", "confirmed_amount": "44.30"}).get_json()
    panel.order("8002", charge="5.00", charge_deposited="5.00", status="pending", created_at=iso(utcnow()))
    cancelled = told(app, body["reference"])[-1]
    expected = {"en": "The withdrawal was cancelled because order 8002 was paid from Deposited Funds while it was "
                      "pending. The processing fee of 2.50 already applied is not returned. (terms-14-pending-order)",
                "es": "El retiro se canceló porque el Pedido 8002 se pagó con Fondos Depositados mientras estaba "
                      "pendiente. La comisión de procesamiento de 2,50 ya aplicada no se devuelve. "
                      "(terms-14-pending-order)"}
    assert cancelled == expected[locale]
    refund = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    assert panel.post(f"/money-requests/{refund['id']}/confirm", {"choice": "keep_balance"}).status_code == 200
    kept = {"en": "You chose to keep your Balance: nothing was changed, and this request is closed.",
            "es": "Usted eligió conservar su Saldo: no se cambió nada y esta solicitud está cerrada."}
    assert told(app, refund["reference"])[-1] == kept[locale]


def test_a_large_withdrawal_waits_for_verification_in_the_requesters_language(app, client, auth, panel):
    funded(panel, deposit="1234.50", fee="0.00", promo=None)
    speaks(app, "alice", "es")
    body = panel.post("/withdrawals", {"customer": "alice", "confirmed_amount": "1172.78"}).get_json()
    assert body["status"] == "awaiting_verification", body
    waiting = told(app, body["reference"])[-1]
    assert waiting.startswith("Gracias. Antes de seguir adelante necesitamos verificar su identidad")
    assert "Solicitado: 1.234,50 de Fondos Depositados" in waiting  # the locale's grouping and decimals
    assert "(terms-18-verification)" in waiting
    staff_act(client, auth, body["reference"], "verify", "Passport and card checked.", role="supervisor")
    assert told(app, body["reference"])[-1] == ("La verificación está completa; su solicitud está en revisión por "
                                                "nuestro equipo de facturación.")


def test_a_ticket_filed_for_a_customer_with_no_language_stays_english(app, panel):
    funded(panel)
    body = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
    assert locale_of(app, body["reference"]) is None
    assert told(app, body["reference"])[0].startswith("Here are the figures of your request.")


# --- privacy answers -------------------------------------------------------------------

PRIVACY_EMAIL = "rosa@example.com"


def privacy_request(app, client, panel, locale, **body):
    from test_privacy_erasure import file_request

    panel.customer("rosa", email=PRIVACY_EMAIL)
    speaks(app, "rosa", locale)
    filed = file_request(client, email=PRIVACY_EMAIL, **body)
    assert locale_of(app, filed["reference"]) == locale
    return filed


@pytest.mark.parametrize("locale, subject, first", [
    ("en", "Privacy request: Access, Deletion", "Rights asked for: Access, Deletion.\nWhere the requester is: EU / UK (GDPR)."),
    ("es", "Solicitud de privacidad: Acceso, Supresión",
     "Derechos solicitados: Acceso, Supresión.\nDónde se encuentra el solicitante: UE / Reino Unido (RGPD)."),
])
def test_a_privacy_request_is_subjected_in_the_requesters_language(app, client, panel, locale, subject, first):
    filed = privacy_request(app, client, panel, locale, rights=["access", "deletion"], jurisdiction="eu")
    assert subject_and_opening(app, filed["reference"]) == (subject, first)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_privacy_flags_and_the_receipt_are_answered_in_the_requesters_language(app, client, auth, panel, locale):
    from test_privacy_erasure import officer_posts

    filed = privacy_request(app, client, panel, locale, rights=["restriction", "opt_out"], jurisdiction="ca")
    receipt = told(app, filed["reference"])[0]
    assert receipt.startswith({"en": "Receipt confirmed to the requester by e-mail (11 CCR §7021)",
                               "es": "Recepción confirmada al solicitante por correo electrónico (11 CCR §7021)"}
                              [locale])
    verified = officer_posts(client, auth, filed["reference"], "verify", reason="Known customer, same address")
    assert verified.status_code == 302
    assert officer_posts(client, auth, filed["reference"], "flags").status_code == 302
    answer = told(app, filed["reference"])[-1]
    expected = {"en": ["We have recorded your request (processing restricted, opted out of sale/sharing).",
                       "Your data is now kept but not used beyond what the law and your open orders require.",
                       "We do not sell or share your personal information as the CCPA/CPRA defines those words."],
                "es": ["Hemos registrado su solicitud (tratamiento restringido, exclusión de la venta o el "
                       "intercambio).",
                       "Sus datos ahora se conservan, pero no se usan más allá de lo que exigen la ley",
                       "No vendemos ni compartimos su información personal"]}
    for sentence in expected[locale]:
        assert sentence in answer, (sentence, answer)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_privacy_refusal_and_an_extension_are_in_the_requesters_language(app, client, auth, panel, locale):
    from conftest import csrf_from, get_ok
    from test_privacy_erasure import officer_posts

    filed = privacy_request(app, client, panel, locale, rights=["access"], jurisdiction="eu")
    auth.login("privacy_officer")
    page = get_ok(client, f"/tickets/{filed['reference']}")
    response = client.post(f"/tickets/{filed['reference']}/clocks/statutory_answer/extend",
                           data={"csrf_token": csrf_from(page), "reason": "Thousands of orders to gather"})
    assert response.status_code == 302
    extension = told(app, filed["reference"])[-1]
    head = {"en": "We need more time to answer your request, as the law allows (Article 12(3) GDPR; our rule "
                  "privacy-10-gdpr).\n\nWhy: Thousands of orders to gather\n\nWe will answer by ",
            "es": "Necesitamos más tiempo para responder a su solicitud, como permite la ley (Article 12(3) GDPR; "
                  "nuestra regla privacy-10-gdpr).\n\nMotivo: Thousands of orders to gather\n\nLe responderemos a "
                  "más tardar el "}
    assert extension.startswith(head[locale]), extension
    reason = "Manifestly unfounded: the fifth copy this week"
    assert officer_posts(client, auth, filed["reference"], "refuse", reason=reason).status_code == 302
    refusal = {"en": f"We cannot act on your request: {reason}\n\nYou have the right to lodge a complaint with your "
                     "local data protection authority (Privacy Policy §10; GDPR Art. 12(4)).",
               "es": f"No podemos atender su solicitud: {reason}\n\nTiene derecho a presentar una reclamación ante "
                     "su autoridad local de protección de datos (Política de Privacidad §10; RGPD art. 12(4))."}
    assert told(app, filed["reference"])[-1] == refusal[locale]


def test_a_deferred_and_then_done_erasure_is_told_in_the_requesters_language(app, client, auth, panel, run_worker):
    from desk.abuse import holds
    from desk.audit.services import SYSTEM
    from desk.auth.models import Staff
    from test_privacy_erasure import officer_posts

    filed = privacy_request(app, client, panel, "es", rights=["deletion"])
    staff_id = auth.staff("trust_safety", "ts@desk.test")
    with app.app_context():
        rosa = db.session.execute(select(Customer).where(Customer.panel_id == "rosa")).scalar_one()
        hold = holds.place(rosa, None, "Police request PR-17 asks us to keep this account", SYSTEM, staff_id)
        db.session.commit()
        hold_id, since = hold.id, f"{hold.placed_at:%Y-%m-%d}"
    run_worker()
    officer_posts(client, auth, filed["reference"], "verify", reason="Known customer, same address")
    officer_posts(client, auth, filed["reference"], "erase")
    run_worker()
    deferred = told(app, filed["reference"])[-1]
    assert deferred.startswith("Todavía no podemos borrar sus datos")
    assert deferred.endswith(f"Lo que lo retiene: retención legal {hold_id} desde el {since}."), deferred
    with app.app_context():  # staff's page and the record keep the English
        from desk.privacy.models import PrivacyRequest

        row = db.session.execute(select(PrivacyRequest)).scalar_one()
        assert row.outcome["erasure"]["deferred"] == [f"legal hold {hold_id} since {since}"]
        holds.release(hold_id, "The police closed PR-17 in writing", db.session.get(Staff, staff_id))
    run_worker()
    done = told(app, filed["reference"])[-1]
    assert done.startswith("Sus datos personales se han borrado (Política de Privacidad §8, §10).\n"
                           "Solo hemos conservado lo siguiente, por los motivos indicados:\n- "), done
    with app.app_context():
        row = db.session.execute(select(PrivacyRequest)).scalar_one()
        assert row.response.startswith("Your personal data has been erased")  # the record stays English


# --- claim decisions -------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_claim_decision_is_written_in_the_requesters_language(app, auth, api_key, locale):
    from test_claims_ui import Panel, decide, late_claim

    shop = Panel(app, api_key("panel"))
    shop.customer("alice")
    speaks(app, "alice", locale)
    ref = late_claim(shop)
    agent = auth.client_for("agent")
    assert decide(agent, ref, "rejected", note="Sorry for the wait.").status_code == 302
    reply = told(app, ref)[-1]
    expected = {"en": ["We are sorry, but your claim on order 1001 cannot be accepted.", "Sorry for the wait.",
                       "How the Terms apply:", "- Filed after the claim window ("],
                "es": ["Lo sentimos, pero su reclamo sobre el Pedido 1001 no puede ser aceptado.",
                       "Sorry for the wait.", "Cómo se aplican los Términos:",
                       "- Presentado fuera del plazo de reclamo ("]}
    for line in expected[locale]:
        assert line in reply, (line, reply)


# --- nothing left in English -----------------------------------------------------------

class TestConversationInThePseudoLocale:
    """The messages of a money request's whole life, in a language whose every message is
    ⟦wrapped⟧: English left over is a sentence nobody made a message id. The Terms quoted
    in their own English words, rule ids, figures and staff's own words are content."""

    @pytest.fixture
    def app(self, make_app, tmp_path):
        return make_app(LANGUAGES=["en", "fr"], BABEL_TRANSLATION_DIRECTORIES=str(pseudo_dir(tmp_path)))

    @staticmethod
    def left_in_english(messages, data) -> list[str]:
        from desk.policy.clauses import CLAUSES

        found = []
        for text in messages:
            text = RULE_ID.sub(" ", without_the_terms(text))
            # A claim decision quotes the Terms as Markdown (desk.claims.replies.clause_text).
            terms = [part for clause in CLAUSES.values() for part in clause]
            found += unmarked(f"<pre>{text}</pre>", list(data) + terms)
        return found

    def test_every_message_of_a_money_request_is_marked(self, app, client, auth, panel):
        funded(panel)
        speaks(app, "alice", "fr")
        withdrawal = panel.post("/withdrawals", {"customer": "alice", "amount": "10.00"}).get_json()
        panel.ledger(entry("alice-c9", "charge", "1.00", order="8003", funding="deposited"))  # cancels it
        refund = panel.post("/refunds", {"customer": "alice", "method": "original"}).get_json()
        panel.post(f"/money-requests/{refund['id']}/confirm", {"choice": "confirm", "amount": refund["amount"]})
        staff_act(client, auth, refund["reference"], "approve")
        closure = panel.post("/closures", {"customer": "alice"}).get_json()
        cancelled = panel.post(f"/money-requests/{closure['id']}/cancel", {})
        assert cancelled.status_code == 200, cancelled.get_json()
        messages = told(app, refund["reference"]) + told(app, withdrawal["reference"]) + told(app, closure["reference"])
        assert len(messages) >= 6, messages
        assert any("⟦Requested: 99,00 of Deposited Funds⟧" in m for m in messages), messages
        assert any("⟦You cancelled this request; nothing more will happen.⟧" in m for m in messages)
        assert any("⟦charge alice-c9 for order 8003⟧" in m for m in messages), messages
        left = self.left_in_english(messages, ["alice-d1", "alice-p1", "alice-c9", "8003", "WELCOME10"])
        assert not left, f"text not marked for translation: {left}"

    def test_every_privacy_answer_and_a_claim_decision_are_marked(self, app, client, auth, panel, api_key):
        from test_claims_ui import Panel, decide, late_claim
        from test_privacy_erasure import file_request, officer_posts

        panel.customer("rosa", email=PRIVACY_EMAIL)
        speaks(app, "rosa", "fr")
        flags = file_request(client, email=PRIVACY_EMAIL, jurisdiction="ca",
                             rights=["restriction", "objection", "consent", "opt_out"])
        officer_posts(client, auth, flags["reference"], "verify", reason="Known customer, same address")
        assert officer_posts(client, auth, flags["reference"], "flags").status_code == 302
        refused = file_request(client, email=PRIVACY_EMAIL, rights=["correction"], jurisdiction="eu")
        reason = "Manifestly unfounded: the fifth copy this week"
        assert officer_posts(client, auth, refused["reference"], "refuse", reason=reason).status_code == 302
        shop = Panel(app, api_key("panel"))
        shop.customer("alice")
        speaks(app, "alice", "fr")
        claim = late_claim(shop)
        assert decide(auth.client_for("agent"), claim, "rejected").status_code == 302
        messages = told(app, flags["reference"]) + told(app, refused["reference"]) + told(app, claim)
        assert len(messages) == 5, messages  # two receipts, the flags, the refusal, the decision
        assert any("⟦Opted out of sale/sharing⟧".lower() in m for m in messages), messages
        assert any(m.startswith("⟦We are sorry, but your claim on order 1001 cannot be accepted.⟧") for m in messages)
        left = self.left_in_english(messages, [reason, "1001"])
        assert not left, f"text not marked for translation: {left}"
