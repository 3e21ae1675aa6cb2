"""Looking a person up by name and ID number tells whether they hold a permit, and in the
endorsement wizard texts them a consent code: one budget of misses per signed-in person
(never per address: tests/test_fair_limits.py), shared by both wizards' applicant steps and
by adding a family member."""

from __future__ import annotations

import re

from stdnum.cn import ric

from epermit import demo


def valid_guess(n: int) -> str:
    """A well-formed ID number (right check digit) that belongs to nobody in the demo world."""
    body = f"44010619800101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


def draft(client_request, wizard: str) -> str:
    location = client_request.get(f"/{wizard}", expected_status=303).location
    match = re.fullmatch(rf"/{wizard}/([\w-]+)/\w+", location)
    assert match, location
    return match.group(1)


def probe_endorse(client_request, draft_id: str, id_number: str, expected_status: int):
    return client_request.post(
        f"/endorse/{draft_id}/applicant",
        {
            "agent_name": "张伟",
            "agent_id_number": demo.person("张伟").id_number,
            "agent_phone": demo.phone("张伟"),
            "member": "other",
            "applicant_name": "赵强",
            "applicant_id_number": id_number,
            "relationship": "sibling",
        },
        expected_status=expected_status,
    )


def test_applicant_guesses_are_limited_and_refused_next_to_the_field(client_request, auth, outbox):
    auth.login("张伟")
    endorse = draft(client_request, "endorse")
    client_request.post(f"/endorse/{endorse}/who", {"for_whom": "other"})
    for n in range(10):
        page = probe_endorse(client_request, endorse, valid_guess(n), 422)
        assert "未找到" in page.errors()["applicant_id_number"]
    page = probe_endorse(client_request, endorse, demo.person("赵强").id_number, 429)
    assert page.errors() == {"applicant_id_number": "操作过于频繁,请稍后再试"}
    assert page.soup.select_one("#applicant_id_number")["value"] == demo.person("赵强").id_number
    assert page.soup.title.get_text().startswith("错误: ")
    # The right guess, made too often, neither passed nor texted 赵强 a code.
    assert outbox.messages(demo.phone("赵强")) == []


def test_the_budget_is_shared_by_both_wizards_and_adding_family(client_request, auth):
    auth.login("陈军")
    deregister = draft(client_request, "deregister")
    client_request.post(f"/deregister/{deregister}/role", {"declarant_role": "landlord"})
    client_request.post(
        f"/deregister/{deregister}/declarant",
        {
            "declarant_name": "陈军",
            "declarant_id_number": demo.person("陈军").id_number,
            "declarant_phone": demo.phone("陈军"),
        },
    )
    for n in range(10):
        client_request.post(
            f"/deregister/{deregister}/applicant",
            {"member": "other", "applicant_name": "某人", "applicant_id_number": valid_guess(n)},
            expected_status=422,
        )
    page = client_request.post(
        "/family/add",
        {"name": "李娜", "id_number": demo.person("李娜").id_number, "relationship": "spouse"},
        expected_status=429,
    )
    assert page.errors() == {"id_number": "操作过于频繁,请稍后再试"}
