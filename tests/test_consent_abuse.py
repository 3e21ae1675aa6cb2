"""Consent codes prove that a person agreed to someone else acting for them. Guessing one
must be hopeless, and asking for them must not flood the person's phone: tries are counted
per person and address across every draft and the family page, and codes per receiving
phone across everyone who asks."""

from __future__ import annotations

import re
from datetime import timedelta

from epermit import demo
from epermit.models import OneTimeCode
from epermit.services import codes

LI_NA = ("李娜", demo.person("李娜").id_number, demo.phone("李娜"))


def stranger_names_li_na(client_request) -> str:
    """赵强, who has no relation to 李娜, starts an endorsement for her; a code goes to her."""
    location = client_request.get("/endorse", expected_status=303).location
    match = re.fullmatch(r"/endorse/([\w-]+)/who", location)
    assert match, location
    draft = match.group(1)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    return draft


def applicant_step(client_request, draft, expected_status=303):
    return client_request.post(
        f"/endorse/{draft}/applicant",
        {
            "agent_name": "赵强",
            "agent_id_number": demo.person("赵强").id_number,
            "agent_phone": demo.phone("赵强"),
            "member": "other",
            "applicant_name": LI_NA[0],
            "applicant_id_number": LI_NA[1],
            "relationship": "spouse",
        },
        expected_status=expected_status,
    )


def wrong_code(outbox) -> str:
    right = outbox.last_code(LI_NA[2])
    return "000000" if right != "000000" else "111111"


def test_consent_guesses_are_counted_across_drafts_and_new_codes(
    client_request, auth, outbox, clock
):
    auth.login("赵强")
    tries = 0
    for _ in range(2):
        draft = stranger_names_li_na(client_request)
        applicant_step(client_request, draft)
        for _ in range(5):
            client_request.post(
                f"/endorse/{draft}/consent", {"consent_code": wrong_code(outbox)}, 422
            )
            tries += 1
        clock.advance(seconds=61)
    assert tries == 10
    # A third code, even the right one, is not tried: the person's budget is spent.
    draft = stranger_names_li_na(client_request)
    applicant_step(client_request, draft)
    page = client_request.post(
        f"/endorse/{draft}/consent", {"consent_code": outbox.last_code(LI_NA[2])}, 429
    )
    assert page.errors() == {"consent_code": "操作过于频繁，请稍后再试"}


def test_a_phone_gets_at_most_three_consent_codes_an_hour(client_request, auth, outbox, clock):
    auth.login("赵强")
    for _ in range(3):
        applicant_step(client_request, stranger_names_li_na(client_request))
    assert len(outbox.messages(LI_NA[2])) == 3
    page = applicant_step(client_request, stranger_names_li_na(client_request), 422)
    assert "近期收到的验证码已达上限" in page.errors()["applicant_id_number"]
    # Adding her as family asks for the same kind of code: refused the same way.
    page = client_request.post(
        "/family/add",
        {"name": LI_NA[0], "id_number": LI_NA[1], "relationship": "other_relative"},
        expected_status=422,
    )
    assert "近期收到的验证码已达上限" in page.errors()["id_number"]
    assert len(outbox.messages(LI_NA[2])) == 3
    # Resending on a consent step is refused too, and says so.
    draft = re.search(
        r"/endorse/([\w-]+)/", client_request.client.get("/endorse").headers["Location"]
    ).group(1)
    clock.advance(minutes=61)
    auth.login("赵强")  # an hour idle signed him out
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    applicant_step(client_request, draft)
    assert len(outbox.messages(LI_NA[2])) == 4  # a new hour, a new code
    clock.advance(seconds=61)
    for _ in range(2):
        client_request.post(f"/endorse/{draft}/consent/resend")
        clock.advance(seconds=61)
    answer = client_request.post(f"/endorse/{draft}/consent/resend")
    assert answer.location == f"/endorse/{draft}/consent"
    page = client_request.get(answer.location)
    notices = [p.get_text() for p in page.soup.select('[role="status"]')]
    assert notices == [
        "验证码已重新发送。",
        "验证码已重新发送。",
        "对方近期收到的验证码已达上限，暂时不能再发送，请稍后再试。",
    ]
    assert len(outbox.messages(LI_NA[2])) == 6


def test_wrong_tries_against_a_phone_stop_its_codes_for_a_day(dbsession, clock):
    # Twenty wrong tries against one person's consent codes, by anyone, from anywhere.
    for n in range(4):
        dbsession.add(
            OneTimeCode(
                purpose="consent",
                subject=f"endorse:draft{n}:2",
                phone=LI_NA[2],
                code_hash="x",
                created_at=clock() - timedelta(hours=5),
                expires_at=clock() - timedelta(hours=5) + timedelta(minutes=5),
                attempts=5,
            )
        )
    dbsession.commit()
    assert codes.recipient_capped(dbsession, LI_NA[2], clock(), codes.CONSENT_CAP)
    assert not codes.recipient_capped(
        dbsession, LI_NA[2], clock() + timedelta(hours=20), codes.CONSENT_CAP
    )
    assert not codes.recipient_capped(dbsession, demo.phone("张伟"), clock(), codes.CONSENT_CAP)
