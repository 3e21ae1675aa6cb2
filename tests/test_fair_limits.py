"""Limits that are fair behind carrier NAT (issue 9 item 2): mobile users in China share public
addresses, as do offices, schools and internet cafés, so what signed-in people do is counted
per person, and only failures count: one abuser is throttled, nobody else at the address is."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from epermit import clock as app_clock
from epermit import demo
from epermit.budgets import DRAFTS
from epermit.models import Draft, Person
from epermit.sql import saved_id
from tests.conftest import csrf_token_of
from tests.test_lookup_limits import valid_guess


def signed_in_client(app, person_id: int):
    """A browser of its own, signed in as the person (the sign-in itself is tested elsewhere;
    here 200 people would otherwise need 200 SMS codes)."""
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["person_id"] = person_id
        flask_session["epoch"] = 0
        with app.app_context():
            flask_session["seen"] = app_clock.epoch()
    return client


def accounts(dbsession, count: int, first: int = 0) -> list[int]:
    """People with accounts (a phone each) and no relation to the demo world."""
    people = [
        Person(
            id_number=valid_guess(first + n),
            name="邻居",
            sex="男",
            ethnicity="汉族",
            birth_date=date(1980, 1, 1),
            hukou="广东省广州市天河区",
            phone=f"1370000{first + n:04d}",
        )
        for n in range(count)
    ]
    dbsession.add_all(people)
    dbsession.commit()
    return [saved_id(person) for person in people]


def test_two_hundred_people_behind_one_address_each_start_a_wizard_while_one_abuser_is_throttled(
    app, dbsession
):
    abuser = signed_in_client(app, accounts(dbsession, 1)[0])
    starts = [abuser.get("/endorse").status_code for _ in range(31)]
    assert starts == [303] * 30 + [429]
    everyone = accounts(dbsession, 200, first=1)
    for person_id in everyone:
        answer = signed_in_client(app, person_id).get("/endorse")
        assert answer.status_code == 303, person_id
        assert answer.headers["Location"].endswith("/who")
    dbsession.rollback()
    drafts = dbsession.exec(select(Draft.owner_id)).all()
    assert len(drafts) == 230 and set(everyone) <= set(drafts)
    # The abuser is still throttled.
    assert abuser.get("/deregister").status_code == 429
    assert DRAFTS.rates.startswith("30 per hour")


def junk_lookups(client_request, count: int) -> None:
    for n in range(count):
        client_request.post(
            "/family/add",
            {"name": "某人", "id_number": valid_guess(n), "relationship": "sibling"},
            expected_status=422,
        )


def test_junk_family_lookups_by_one_person_do_not_block_others(client_request, auth, outbox):
    auth.login("张伟")
    junk_lookups(client_request, 10)
    page = client_request.post(
        "/family/add",
        {"name": "赵强", "id_number": demo.person("赵强").id_number, "relationship": "sibling"},
        expected_status=429,
    )
    assert page.errors() == {"id_number": "操作过于频繁,请稍后再试"}
    auth.logout()
    # Another person at the same address (the test client's 127.0.0.1) is not held back.
    auth.login("赵强")
    answer = client_request.post(
        "/family/add",
        {"name": "李娜", "id_number": demo.person("李娜").id_number, "relationship": "spouse"},
    )
    assert answer.location == "/family/add/consent"
    assert "赵强申请将您添加为家庭成员" in outbox.messages(demo.phone("李娜"))[-1]["text"]


def test_lookups_that_find_the_person_do_not_count(client_request, auth, dbsession):
    """Naming a real person again and again (going back to change other answers, say) spends
    nothing: only misses tell a prober anything."""
    auth.login("张伟")
    location = client_request.get("/endorse", expected_status=303).location
    draft = location.rsplit("/", 1)[0]
    client_request.post(f"{draft}/who", {"for_whom": "other"})
    for relationship in ["spouse", "other_relative"] * 8:  # 16, over the 10 a minute
        answer = client_request.post(
            f"{draft}/applicant",
            {
                "agent_name": "张伟",
                "agent_id_number": demo.person("张伟").id_number,
                "agent_phone": demo.phone("张伟"),
                "member": "other",
                "applicant_name": "李娜",
                "applicant_id_number": demo.person("李娜").id_number,
                "relationship": relationship,
            },
        )
        assert answer.status == 303, answer.soup.select_one('main')


def test_typos_caught_by_the_form_do_not_count(client_request, auth):
    auth.login("张伟")
    token = csrf_token_of(client_request.client)
    for _ in range(15):
        answer = client_request.client.post(
            "/family/add",
            data={"name": "", "id_number": "4301", "relationship": "", "csrf_token": token},
        )
        assert answer.status_code == 422
    junk_lookups(client_request, 9)
    # The tenth miss is still looked up, and refused as a miss, not as too many tries.
    page = client_request.post(
        "/family/add",
        {"name": "某人", "id_number": valid_guess(99), "relationship": "sibling"},
        expected_status=422,
    )
    assert "姓名与公民身份号码不一致" in page.errors()["id_number"]
