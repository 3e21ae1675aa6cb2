"""Every POST with tampered input is refused cleanly: an answer, never a crash or a change."""

from __future__ import annotations

import re

import pytest
from sqlmodel import func, select

from epermit.models import Deregistration, Endorsement

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
    return re.search(rf"/{wizard}/([\w-]+)/", client.get(f"/{wizard}").headers["Location"]).group(1)


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
            data={field: junk for field in fields} | {"csrf_token": csrf(client_request.client)},
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
            data={field: junk for field in fields} | {"csrf_token": csrf(client_request.client)},
        )
        assert answer.status_code in (422, 303), (step, answer.status_code)
    assert rows(dbsession, Deregistration) == 1  # 刘洋's, from the demo


def test_unknown_step_and_draft_are_404(client_request, auth):
    auth.login("张伟")
    draft = draft_of(client_request.client, "endorse")
    client_request.get(f"/endorse/{draft}/nonsense", expected_status=404)
    client_request.get("/endorse/not-a-draft/who", expected_status=404)
    client_request.post(f"/endorse/{draft}/nonsense", {"x": "1"}, expected_status=404)


def csrf(client) -> str:
    return re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
    ).group(1)
