"""The XSS corpus (issue 11) through what staff and requesters type around a ticket: every
form on the staff ticket page of a claim, a money request and a plain ticket (replies, notes,
tags, custom field values, money decisions and case notes, claim facts and decisions,
merge and split), saved view names, macros, custom field definitions, staff names, and the
requester's satisfaction comment — into the ticket pages, the queue, the dashboard, the
customer page, the admin pages and the audit log."""
import re

from conftest import csrf_from, get_ok, ledger_entry, text_of
from test_csat import links_in, resolve_by_reply, survey_mail
from xss_corpus import VECTORS, assert_clean, every_form, fill, forms_on, submit, why

ALL = "\n".join(VECTORS)
SHORT = VECTORS[2]  # <img src=x onerror=alert(1)>: fits every name field


def clean_everywhere(client, urls):
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        # The dashboard draws its charts as inline SVG: those may be there, nothing injected may.
        assert_clean(text_of(response), url, allow=("svg",) if url == "/dashboard" else ())


def asks_again(response) -> bool:
    return response.status_code == 200 and any(f["method"] == "post" and f["text"] for f in forms_on(text_of(response)))


def test_the_corpus_through_every_staff_form_on_claim_money_and_plain_tickets(app, client, auth, panel, make_ticket):
    panel.customer("alice")
    panel.order("1001", status="partial", remains=400)
    panel.ledger(ledger_entry("d1", "deposit", "50.00"))
    claim = fill(client, "/claim", ALL, email="alice@alice-shop.example", order="1001", kind="wrong_quantity",
                 login="", current_count="")
    if asks_again(claim):  # the decision first, then the claim
        claim = submit(client, text_of(claim), "/claim", ALL, email="alice@alice-shop.example", order="1001",
                       kind="wrong_quantity", login="", current_count="")
    assert claim.status_code in (200, 302), why(claim)
    assert_clean(text_of(claim), "claim filed")
    refund = fill(client, "/billing", ALL, email="alice@alice-shop.example", kind="refund", amount="5.00",
                  method="original", order="", login="")
    if asks_again(refund):  # the figures first, then the request
        refund = submit(client, text_of(refund), "/billing", ALL, email="alice@alice-shop.example", kind="refund",
                        amount="5.00", method="original", order="", login="")
    assert refund.status_code in (200, 302), why(refund)
    assert_clean(text_of(refund), "refund requested")
    plain = make_ticket(subject="Plain", customer="alice", requester_email="alice@alice-shop.example")

    admin = auth.client_for("admin")
    queue = get_ok(admin, "/queue")
    references = sorted(set(re.findall(r"T-\d{2}-\d{6}", queue)) | {plain})
    assert len(references) == 3, references  # the claim, the refund, the plain ticket
    for vector in (ALL, SHORT):
        for reference in references:
            answers = every_form(admin, f"/tickets/{reference}", vector, skip=("/merge", "/split"))
            assert answers, reference
    for reference in references:
        page = get_ok(admin, f"/tickets/{reference}")
        assert_clean(page, reference)
        assert "alert(1)" in page, reference
    clean_everywhere(admin, ["/queue", "/customers/alice", "/claims/returns", "/admin/audit", "/dashboard"])


def test_the_corpus_in_view_names_macros_fields_staff_names_and_tags(app, client, auth, make_ticket):
    reference = make_ticket(subject="Tagged")
    admin = auth.client_for("admin")
    for number, vector in enumerate(VECTORS):
        name = f"{number} {vector}"[:80]
        saved = fill(admin, "/queue", name, action="/views", keep=("q",), q="", shared="on")
        assert saved.status_code in (302, 400), why(saved)
        made = fill(admin, "/admin/macros", vector, max_len={"name": 80}, name=name, claim_outcome="",
                    add_tags=re.sub(r"\s+", "-", vector)[:40])  # a longer tag is refused (422), not cut
        assert made.status_code in (200, 302, 400), why(made)
        tagged = fill(admin, f"/tickets/{reference}", vector, action=f"/tickets/{reference}/update",
                      tags=re.sub(r"\s+", "-", vector)[:40])
        assert tagged.status_code in (302, 400), why(tagged)
    staffed = fill(admin, "/admin/staff", SHORT, email="mallory@desk.test", role="agent",
                   password="correct horse battery staple")
    assert staffed.status_code in (200, 302, 400), why(staffed)
    field = fill(admin, "/admin/fields", SHORT, key="xss_field")
    assert field.status_code in (200, 302, 400), why(field)
    assert every_form(admin, f"/tickets/{reference}", SHORT)  # with the new field on it, if it applies
    agent = auth.client_for("agent")
    pages = ["/queue", f"/tickets/{reference}", "/admin/macros", "/admin/staff", "/admin/fields", "/admin/audit"]
    clean_everywhere(admin, pages)
    clean_everywhere(agent, ["/queue", f"/tickets/{reference}"])
    assert "alert(1)" in get_ok(admin, "/admin/macros") and "alert(1)" in get_ok(agent, "/queue")


def test_the_corpus_in_satisfaction_comments(app, client, auth, make_ticket, run_worker):
    auth.login("agent")
    references = []
    for number, vector in enumerate(VECTORS[:8]):
        reference = make_ticket(subject=f"Survey {number}", requester_name=vector[:120])
        resolve_by_reply(client, reference)
        references.append(reference)
    run_worker()
    auth.logout()
    for number, reference in enumerate(references):
        path = links_in(survey_mail(app, reference))["bad" if number % 2 else "good"]
        page = get_ok(client, path)
        assert_clean(page, path)
        answered = client.post(path.rsplit("/", 1)[0], data={
            "csrf_token": csrf_from(page), "rating": "bad" if number % 2 else "good", "comment": ALL})
        assert answered.status_code in (200, 302), why(answered)
        assert_clean(text_of(answered), "survey answered")
        assert_clean(get_ok(client, path), f"{path} again")
    supervisor = auth.client_for("admin")
    clean_everywhere(supervisor, ["/dashboard", *(f"/tickets/{r}" for r in references)])
    assert "alert(1)" in get_ok(supervisor, f"/tickets/{references[0]}")
