"""Every POST with tampered input is refused cleanly: an answer, never a crash or a change."""

from __future__ import annotations

import re

import pytest
from sqlmodel import func, select

from epermit import demo
from epermit.models import Deregistration, Draft, Endorsement, FamilyLink, OneTimeCode
from tests.conftest import csrf_token_of

JUNK = [
    "",
    "x" * 5000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\x00",
    "9" * 40,
    "-1",
    "１２３",
]

ENDORSE_FIELDS = {
    "who": ["for_whom"],
    "applicant": [
        "agent_name",
        "agent_id_number",
        "agent_phone",
        "member",
        "applicant_name",
        "applicant_id_number",
        "relationship",
    ],
    "residence": ["address_unchanged"],
    "check": ["declaration"],
}
DEREGISTER_FIELDS = {
    "role": ["declarant_role"],
    "declarant": ["declarant_name", "declarant_id_number", "declarant_phone"],
    "reason": ["reason", "reason_detail", "leave_date"],
    "check": ["declaration"],
}


def rows(dbsession, model) -> int:
    dbsession.rollback()
    return dbsession.exec(select(func.count()).select_from(model)).one()


def draft_of(client, wizard: str) -> str:
    match = re.search(rf"/{wizard}/([\w-]+)/", client.get(f"/{wizard}").headers["Location"])
    assert match, "starting a wizard redirects to its draft"
    return match.group(1)


@pytest.mark.parametrize("junk", JUNK)
def test_junk_in_endorsement_steps_is_refused_cleanly(client_request, auth, dbsession, junk):
    auth.login("张伟")
    draft = draft_of(client_request.client, "endorse")
    for step, fields in ENDORSE_FIELDS.items():
        if step == "applicant":
            client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
        if step == "residence":
            client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
        if step == "check":
            client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "yes"})
        answer = client_request.client.post(
            f"/endorse/{draft}/{step}",
            data={field: junk for field in fields}
            | {"csrf_token": csrf_token_of(client_request.client)},
        )
        assert answer.status_code in (422, 303), (step, answer.status_code)
    assert rows(dbsession, Endorsement) == 0


@pytest.mark.parametrize("junk", JUNK)
def test_junk_in_deregistration_steps_is_refused_cleanly(client_request, auth, dbsession, junk):
    auth.login("赵强")
    draft = draft_of(client_request.client, "deregister")
    for step, fields in DEREGISTER_FIELDS.items():
        if step == "declarant":
            client_request.post(f"/deregister/{draft}/role", {"declarant_role": "self"})
        answer = client_request.client.post(
            f"/deregister/{draft}/{step}",
            data={field: junk for field in fields}
            | {"csrf_token": csrf_token_of(client_request.client)},
        )
        assert answer.status_code in (422, 303), (step, answer.status_code)
    assert rows(dbsession, Deregistration) == 1  # 刘洋's, from the demo


def test_unknown_step_and_draft_are_404(client_request, auth):
    auth.login("张伟")
    draft = draft_of(client_request.client, "endorse")
    client_request.get(f"/endorse/{draft}/nonsense", expected_status=404)
    client_request.get("/endorse/not-a-draft/who", expected_status=404)
    client_request.post(f"/endorse/{draft}/nonsense", {"x": "1"}, expected_status=404)


# Forms outside the wizards, each with the fields it posts.
OTHER_FORMS = {
    "/login": ["phone"],
    "/family/add": ["name", "id_number", "relationship"],
    "/family/switch": ["member"],
    "/session/extend": ["back"],
}


@pytest.mark.parametrize("junk", JUNK)
def test_junk_in_every_other_form_is_refused_cleanly(client_request, auth, dbsession, junk):
    auth.login("张伟")
    for url, fields in OTHER_FORMS.items():
        answer = client_request.client.post(
            url,
            data={field: junk for field in fields}
            | {"csrf_token": csrf_token_of(client_request.client)},
        )
        assert answer.status_code in (303, 400, 404, 422), (url, answer.status_code)
    answer = client_request.client.post(
        "/login/verify", data={"code": junk, "csrf_token": csrf_token_of(client_request.client)}
    )
    assert answer.status_code in (303, 422), answer.status_code
    assert rows(dbsession, FamilyLink) == 4  # the demo's


@pytest.mark.parametrize("junk", JUNK)
def test_junk_in_an_organisations_declaration_is_refused_cleanly(client_request, auth, junk):
    auth.login("黄丽")
    draft = draft_of(client_request.client, "deregister")
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "employer"})
    fields = ["org_name", "org_uscc", "contact_name", "contact_phone"]
    answer = client_request.client.post(
        f"/deregister/{draft}/declarant",
        data={field: junk for field in fields}
        | {"csrf_token": csrf_token_of(client_request.client)},
    )
    assert answer.status_code == 422


def test_control_characters_in_a_reason_are_dropped_not_stored(client_request, auth, dbsession):
    # PostgreSQL cannot store NUL in text at all: it must never reach the database.
    auth.login("赵强")
    draft = draft_of(client_request.client, "deregister")
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "self"})
    client_request.post(
        f"/deregister/{draft}/declarant",
        {
            "declarant_name": "赵强",
            "declarant_id_number": demo.person("赵强").id_number,
            "declarant_phone": demo.phone("赵强"),
        },
    )
    answer = client_request.post(
        f"/deregister/{draft}/reason",
        {"reason": "other", "reason_detail": "回老家\x00照顾\x1b父母", "leave_date": "2026-11-20"},
    )
    assert answer.location == f"/deregister/{draft}/check"
    assert "回老家照顾父母" in client_request.get(f"/deregister/{draft}/check").main_text
    client_request.post(f"/deregister/{draft}/check", {"declaration": "y"})
    dbsession.rollback()
    record = dbsession.exec(select(Deregistration).order_by(Deregistration.id.desc())).first()
    assert record.reason_detail == "回老家照顾父母"


@pytest.mark.parametrize(
    "url",
    [
        "/family/99999999999999999999999999/remove",
        "/endorse/" + "x" * 500 + "/who",
        "/cases/" + "Q" * 500,
        "/v/" + "a" * 2000,
        "/cases/%00",  # PostgreSQL cannot hold NUL in text at all
        "/endorse/%00/who",
        "/deregister/a%00b/role",
    ],
)
def test_outsized_ids_in_urls_are_not_found(client_request, auth, url):
    auth.login("张伟")
    assert client_request.client.get(url).status_code == 404


def test_drafts_cannot_be_made_by_the_thousand(client_request, auth, dbsession):
    # GET /endorse makes a draft (SPEC 4.1), so a script or a cross-site link could.
    auth.login("张伟")
    for _ in range(30):
        client_request.get("/endorse", expected_status=303)
    page = client_request.get("/deregister", expected_status=429)
    assert page.h1 == "操作过于频繁"
    assert rows(dbsession, Draft) == 30


def test_stale_drafts_and_old_codes_are_purged(app, client_request, auth, dbsession, clock):
    auth.login("张伟")
    abandoned = draft_of(client_request.client, "endorse")
    submitted = draft_of(client_request.client, "endorse")
    token = csrf_token_of(client_request.client)
    client_request.client.post(
        f"/endorse/{submitted}/who", data={"for_whom": "self", "csrf_token": token}
    )
    client_request.client.post(
        f"/endorse/{submitted}/residence", data={"address_unchanged": "yes", "csrf_token": token}
    )
    client_request.client.post(
        f"/endorse/{submitted}/check", data={"declaration": "y", "csrf_token": token}
    )
    clock.advance(days=29)
    auth.login("张伟")
    fresh = draft_of(client_request.client, "deregister")
    clock.advance(days=3)
    result = app.test_cli_runner().invoke(args=["purge-stale"])
    assert "deleted 1 stale drafts" in result.output, result.output
    dbsession.rollback()
    assert dbsession.get(Draft, abandoned) is None
    assert dbsession.get(Draft, submitted).case_id is not None
    assert dbsession.get(Draft, fresh) is not None
    assert dbsession.exec(select(func.count()).select_from(OneTimeCode)).one() == 0
