"""Custom fields per ticket kind and tags (issue 10) through HTTP: admins define fields,
staff fill them in on tickets of that kind, the queue filters by a field's value and by tag,
and bad values are refused with the field named."""
import re

import pytest
from sqlalchemy import select

from conftest import csrf_from, post_form, text_of
from desk.audit.models import AuditEvent
from desk.extensions import db
from desk.tickets.models import CustomField, TicketFieldValue


def listed(page: str) -> set[str]:
    return set(re.findall(r'class="ref">(T-\d{2}-\d{6})<', page))


def define(client, **data):
    fields = {"label": "Platform", "key": "platform", "kind": "claim", "type": "choice",
              "choices": "Instagram\nTikTok\nYouTube"}
    fields.update(data)
    return post_form(client, "/admin/fields", fields)


def save_fields(client, reference, **values):
    page = client.get(f"/tickets/{reference}")
    return client.post(f"/tickets/{reference}/fields", data={
        "csrf_token": csrf_from(text_of(page)), **{f"field-{k}": v for k, v in values.items()}})


@pytest.fixture
def admin(auth):
    return auth.client_for("admin", "admin@desk.test")


def test_admins_define_fields_and_bad_definitions_say_why(app, admin):
    assert define(admin).status_code == 302
    assert define(admin, label="Followers lost", key="lost", type="number", kind="", choices="").status_code == 302
    page = text_of(admin.get("/admin/fields"))
    assert "Platform" in page and "Instagram, TikTok, YouTube" in page and "every kind" in page
    for data, words in [({"key": "platform"}, "already used"), ({"key": "Bad Key!"}, "lower-case letters"),
                        ({"key": "x1", "type": "choice", "choices": ""}, "1 to 50 choices")]:
        response = define(admin, **data)
        assert response.status_code == 422 and words in text_of(response), data
    with app.app_context():
        assert db.session.query(CustomField).count() == 2


def test_staff_fill_in_a_kinds_fields_and_the_queue_filters_by_them(app, admin, auth, make_ticket):
    define(admin)
    define(admin, label="Followers lost", key="lost", type="number", kind="", choices="")
    claim_a = make_ticket(kind="claim", subject="Claim A")
    claim_b = make_ticket(kind="claim", subject="Claim B")
    general = make_ticket(subject="A question")
    client = auth.client_for("agent")
    page = text_of(client.get(f"/tickets/{claim_a}"))
    assert 'name="field-platform"' in page and 'name="field-lost"' in page
    page = text_of(client.get(f"/tickets/{general}"))
    assert 'name="field-platform"' not in page and 'name="field-lost"' in page  # "lost" is on every kind

    assert save_fields(client, claim_a, platform="TikTok", lost="250").status_code == 302
    assert save_fields(client, claim_b, platform="Instagram").status_code == 302
    assert listed(text_of(client.get("/queue?field=platform:TikTok"))) == {claim_a}
    assert listed(text_of(client.get("/queue?field=lost:250"))) == {claim_a}
    assert listed(text_of(client.get("/queue?field=platform:YouTube"))) == set()
    page = text_of(client.get("/queue?field=colour:red"))
    assert "No field &#39;colour&#39;" in page and {claim_a, claim_b, general} <= listed(page)

    # Bad values are refused with the field named; nothing is half-saved.
    response = save_fields(client, claim_b, platform="Myspace", lost="12")
    assert "Platform: one of Instagram, TikTok, YouTube." in text_of(client.get(response.headers["Location"]))
    save_fields(client, claim_b, lost="lots")
    assert "Followers lost: a whole number." in text_of(client.get(f"/tickets/{claim_b}"))
    with app.app_context():
        values = dict(db.session.execute(select(CustomField.key, TicketFieldValue.value).join(
            CustomField, CustomField.id == TicketFieldValue.field_id)).all())
        assert values == {"platform": "Instagram", "lost": "250"}  # B's platform and A's count
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "ticket.fields")
                                   .order_by(AuditEvent.id)).scalars().first()
        assert event.data["changed"] == {"platform": [None, "TikTok"], "lost": [None, "250"]}
    # Emptied, a value goes.
    save_fields(client, claim_a, platform="")
    assert listed(text_of(client.get("/queue?field=platform:TikTok"))) == set()


def test_a_retired_field_is_no_longer_shown_but_keeps_its_values(app, admin, auth, make_ticket):
    define(admin)
    reference = make_ticket(kind="claim")
    save_fields(admin, reference, platform="TikTok")
    with app.app_context():
        field_id = db.session.execute(select(CustomField.id)).scalar_one()
    page = text_of(admin.get("/admin/fields"))
    admin.post(f"/admin/fields/{field_id}/active", data={"csrf_token": csrf_from(page)})
    assert 'name="field-platform"' not in text_of(admin.get(f"/tickets/{reference}"))
    with app.app_context():
        assert db.session.query(TicketFieldValue).count() == 1


def test_only_admins_define_fields(app, auth):
    assert auth.client_for("supervisor").get("/admin/fields").status_code == 403


def test_tags_filter_the_queue_and_are_suggested_per_kind(app, auth, make_ticket):
    client = auth.client_for("agent")
    first, second = make_ticket(kind="claim"), make_ticket(kind="claim")
    other = make_ticket()
    for reference, tags in ((first, "refill-due, vip"), (second, "vip"), (other, "spam")):
        page = client.get(f"/tickets/{reference}")
        client.post(f"/tickets/{reference}/update", data={"csrf_token": csrf_from(text_of(page)), "status": "open",
                                                          "priority": "normal", "tags": tags})
    assert listed(text_of(client.get("/queue?tag=vip"))) == {first, second}
    page = text_of(client.get(f"/tickets/{first}"))
    suggested = re.findall(r'<option value="([^"]+)">', page.split('id="tag-suggestions"')[1].split("</datalist>")[0])
    assert suggested == ["vip", "refill-due"]  # the claim kind's tags, most used first; not "spam"
