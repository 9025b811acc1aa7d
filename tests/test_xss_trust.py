"""The XSS corpus (issue 11) through trust & safety and privacy: the public abuse and rights
report forms (reporter name, links, orders, description, work), the reporter's added
information, enforcement reasons, the account holder's appeal and its decision; the public
privacy form (name, login, details) and the officer's correction and refusal text — into the
staff pages, the reporter's status page, the appeal page, the requester's privacy page and
the mails the desk wrote."""
import re

from sqlalchemy import select

from abuse_helpers import confirm_latest, link_in, mails, only_case
from conftest import csrf_from, get_ok, ledger_entry, text_of
from desk.extensions import db
from test_privacy_erasure import officer_posts
from xss_corpus import VECTORS, assert_clean, assert_mail_is_plain_text, fill, why

ALL = "\n".join(VECTORS)
LINKS = "\n".join(["javascript:alert(1)", " JaVaScRiPt:alert(1)", *VECTORS[:10]])  # a report holds at most 20 links (commas split them too)
REASON = "The page runs an investment scam. " + ALL


def clean_everywhere(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert_clean(text_of(response), url)


def test_the_corpus_through_abuse_reports_enforcement_and_appeals(app, client, panel, auth):
    panel.customer("bob")
    panel.order("7001", customer="bob", link="https://www.instagram.com/p/SCAM1/")
    panel.ledger(ledger_entry("bob-d1", "deposit", "50.00", "bob"))
    # Each vector as the reporter's name, with the corpus in every other text field.
    for number, vector in enumerate(VECTORS[:6]):
        answer = fill(client, "/report/abuse", ALL, max_len={"name": 120, "orders": 1000}, name=vector[:120],
                      email=f"r{number}@watchdog.example", category="3.2",
                      links="https://www.instagram.com/p/SCAM1/\n" + LINKS, orders="7001 " + VECTORS[number][:60])
        assert answer.status_code == 200, why(answer)
        assert_clean(text_of(answer), f"report received for {vector!r}")
        confirm_latest(app, client)
    rights = fill(client, "/report/rights", ALL, max_len={"name": 120, "work": 300, "registration": 120,
                                                          "orders": 1000},
                  email="owner@brand.example", good_faith="y", orders=VECTORS[1], links="https://www.instagram.com/p/FAKE/\n" + LINKS)
    assert rights.status_code == 200, why(rights)
    assert_clean(text_of(rights), "rights notice received")
    status_path = confirm_latest(app, client).headers["Location"]
    clean_everywhere(client, [status_path])
    # A report with no link or order asks for more, which the reporter adds on the status page.
    asked = fill(client, "/report/abuse", ALL, max_len={"name": 120, "orders": 1000}, email="vague@example.org",
                 category="3.2", links="", orders="")
    assert asked.status_code == 200, why(asked)
    needs_info = confirm_latest(app, client).headers["Location"]
    added = fill(client, needs_info, ALL, orders=VECTORS[2], links="https://www.instagram.com/p/SCAM2/\n" + LINKS)
    assert added.status_code == 302, why(added)
    clean_everywhere(client, [needs_info])

    # Trust & safety suspend with the corpus as the reason; the account holder appeals with it.
    staff = auth.client_for("trust_safety", email="actor@desk.test")
    with app.app_context():
        from desk.abuse.models import AbuseCase

        cases = [(c.id, c.ticket.reference) for c in db.session.execute(select(AbuseCase)).scalars()]
    case_id, ticket = next((i, r) for i, r in cases if "7001" in get_ok(staff, f"/tickets/{r}"))
    page = get_ok(staff, f"/tickets/{ticket}")
    response = staff.post(f"/abuse/cases/{case_id}/actions", data={
        "csrf_token": csrf_from(page), "account": "bob", "action": "suspend", "reason": REASON})
    assert response.status_code == 302
    appeal_path = link_in(mails(app, "enforcement:")[0])
    clean_everywhere(client, [appeal_path])
    appealed = fill(client, appeal_path, "I did not know. " + ALL)
    assert appealed.status_code == 302, why(appealed)
    reviewer = auth.client_for("trust_safety", email="reviewer@desk.test")
    with app.app_context():
        from desk.abuse.models import Appeal

        appeal_id = db.session.execute(select(Appeal.id)).scalar_one()
    decided = reviewer.post(f"/abuse/appeals/{appeal_id}/decide", data={
        "csrf_token": csrf_from(get_ok(reviewer, f"/tickets/{ticket}")), "outcome": "upheld",
        "reason": "The page is still a scam. " + ALL})
    assert decided.status_code == 302

    clean_everywhere(client, [appeal_path, status_path])
    admin = auth.client_for("admin")
    shown = 0
    for _, reference in cases:
        page = get_ok(reviewer, f"/tickets/{reference}")
        assert_clean(page, reference)
        shown += "alert(1)" in page
    assert shown == len(cases)
    clean_everywhere(reviewer, ["/abuse/reports", "/queue?limit=100", "/customers/bob"])
    clean_everywhere(admin, ["/admin/audit"])
    clean_everywhere(admin, ["/mail"])
    assert_mail_is_plain_text(app, min_with_vector=2)  # the suspension and the appeal's answer


def test_the_corpus_through_privacy_requests(app, client, auth, run_worker):
    references = []
    for number, vector in enumerate(VECTORS):
        filed = fill(client, "/privacy/request", ALL, max_len={"name": 120, "login": 120}, name=vector[:120],
                     login=vector[:120], email=f"p{number}@example.org", rights="correction", jurisdiction="eu")
        assert filed.status_code == 302, why(filed)
        page = get_ok(client, filed.headers["Location"])
        assert_clean(page, filed.headers["Location"])
        references.append(re.search(r"P-\d{2}-\d{6}|T-\d{2}-\d{6}", page).group(0))
    run_worker()
    for reference in references[:3]:
        officer_posts(client, auth, reference, "verify", reason="Called her back: " + VECTORS[0])
        assert officer_posts(client, auth, reference, "correction", what=ALL).status_code == 302
    for reference in references[3:5]:
        assert officer_posts(client, auth, reference, "refuse", reason="Manifestly unfounded. " + ALL).status_code == 302
    clean_everywhere(client, ["/privacy", *(f"/tickets/{r}" for r in references)])
    assert "alert(1)" in get_ok(client, f"/tickets/{references[0]}")
    run_worker()
    assert_mail_is_plain_text(app, min_with_vector=5)  # the corrections and refusals
