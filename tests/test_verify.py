"""Public verification at /v/<token> (SPEC 2.12): masked name, status, valid-until, 签发机关
and check time; expired, tampered or unknown tokens are refused without personal data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from epermit import demo
from epermit.models import Case, Deregistration, Permit, Person
from epermit.services import permit_code

SECRET = "test-secret"


def permit_of(dbsession, name):
    return dbsession.exec(
        select(Permit).join(Person, Person.id == Permit.person_id).where(Person.name == name)
    ).one()


def token_for(dbsession, name, moment):
    return permit_code.make_token(permit_of(dbsession, name).id, moment, SECRET)


def assert_no_personal_data(page):
    html = page.response.get_data(as_text=True)
    for word in ("张", "李娜", "430102", "有效期至", "分局", 'id="status"'):
        assert word not in html, word


def test_verification_shows_masked_name_status_valid_until_authority_and_check_time(
    client_request, dbsession, clock
):
    token = token_for(dbsession, "张小明", clock())
    clock.advance(minutes=2)
    page = client_request.get(f"/v/{token}")
    assert page.h1 == "居住证核验结果"
    assert page.text("#holder-name") == "张*明"
    assert page.text("#status") == "待签注"
    valid_until = clock.today + timedelta(days=20)
    assert page.soup.select_one("#valid-until time")["datetime"] == valid_until.isoformat()
    assert page.text("#issuing-authority") == "广州市公安局天河分局"
    checked = page.soup.select_one("#checked-at time")
    assert checked["datetime"] == "2026-11-25T10:02:00+08:00"
    assert page.text("#checked-at") == "2026年11月25日 10:02:00"
    html = page.response.get_data(as_text=True)
    assert "张小明" not in html and demo.person("张小明").id_number not in html
    assert "4301" not in html  # not even the masked ID number


def test_two_character_name_keeps_only_the_surname(client_request, dbsession, clock):
    page = client_request.get(f"/v/{token_for(dbsession, '李娜', clock())}")
    assert page.text("#holder-name") == "李*"
    assert page.text("#status") == "有效"


def test_verification_needs_no_sign_in_and_is_never_cached(client, dbsession, clock):
    answer = client.get(f"/v/{token_for(dbsession, '李娜', clock())}")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Robots-Tag"] == "noindex"


def test_tampered_token_is_refused_with_404_and_no_personal_data(client_request, dbsession, clock):
    token = token_for(dbsession, "张伟", clock())
    payload, signature = token.split(".")
    other = permit_code.make_token(permit_of(dbsession, "李娜").id, clock(), SECRET)
    tampered = f"{other.split('.')[0]}.{signature}"
    for bad in (tampered, token[:-2], token + "x", "not-a-token"):
        page = client_request.get(f"/v/{bad}", expected_status=404)
        assert page.h1 == "二维码无效"
        assert "请持证人在电子居住证中重新亮码" in page.main_text
        assert_no_personal_data(page)
        assert page.response.headers["Cache-Control"] == "no-store"


def test_token_signed_with_another_key_is_refused(client_request, dbsession, clock):
    forged = permit_code.make_token(permit_of(dbsession, "张伟").id, clock(), "guessed-secret")
    page = client_request.get(f"/v/{forged}", expected_status=404)
    assert page.h1 == "二维码无效"


def test_unknown_permit_is_refused_like_a_tampered_token(client_request, clock):
    token = permit_code.make_token(999_999, clock(), SECRET)
    page = client_request.get(f"/v/{token}", expected_status=404)
    assert page.h1 == "二维码无效"
    assert_no_personal_data(page)


def test_expired_token_is_refused_with_410_once_time_moves_on(client_request, dbsession, clock):
    token = token_for(dbsession, "张伟", clock())
    clock.advance(minutes=4, seconds=59)
    assert client_request.get(f"/v/{token}").h1 == "居住证核验结果"
    clock.advance(minutes=1, seconds=2)
    page = client_request.get(f"/v/{token}", expected_status=410)
    assert page.h1 == "二维码已过期"
    assert "截图无效" in page.main_text
    assert_no_personal_data(page)


def test_code_lifetime_is_configurable(app, client_request, dbsession, clock):
    app.config["PERMIT_CODE_TTL_SECONDS"] = 60
    token = token_for(dbsession, "张伟", clock())
    clock.advance(seconds=61)
    client_request.get(f"/v/{token}", expected_status=410)


def test_token_from_the_future_is_refused(client_request, dbsession, clock):
    token = token_for(dbsession, "张伟", clock() + timedelta(hours=1))
    client_request.get(f"/v/{token}", expected_status=404)


@pytest.mark.parametrize("payload", [[1], "1", [1, "2"], [True, 1], {"p": 1}, [1, 2, 3]])
def test_well_signed_but_malformed_payload_is_refused(payload, clock):
    token = permit_code._serializer(SECRET).dumps(payload)
    with pytest.raises(permit_code.TokenInvalid):
        permit_code.read_token(token, clock(), SECRET, 300)


def test_code_made_before_a_deregistration_reads_deregistered_after_it(
    client_request, dbsession, clock
):
    token = token_for(dbsession, "李娜", clock())
    assert client_request.get(f"/v/{token}").text("#status") == "有效"
    dbsession.rollback()  # the check wrote to the holder's log: read after it
    permit = permit_of(dbsession, "李娜")
    li_na = permit.person_id
    case = Case(
        reference="ZX20261125K7M2Q9X",
        kind="deregister",
        permit_id=permit.id,
        applicant_id=li_na,
        agent_id=li_na,
        outcome="deregistered",
        details={},
        created_at=clock(),
    )
    dbsession.add(case)
    dbsession.flush()
    dbsession.add(
        Deregistration(
            permit_id=permit.id,
            declarant_role="self",
            declarant_id=li_na,
            reason="left_city",
            leave_date=clock.today,
            declared_at=clock(),
            case_id=case.id,
            district="天河区",
        )
    )
    dbsession.commit()
    clock.advance(minutes=1)
    page = client_request.get(f"/v/{token}")
    assert page.text("#status") == "已注销"
    assert "居住证已注销，不再有效" in page.main_text


def test_status_is_read_when_checked_not_when_made(client_request, dbsession, clock):
    # 23:58 in Guangzhou on 张伟's valid-until day; checked three minutes later, after midnight.
    clock.moment = (clock.moment + timedelta(days=10)).replace(hour=15, minute=58)
    token = token_for(dbsession, "张伟", clock())
    assert client_request.get(f"/v/{token}").text("#status") == "待签注"
    clock.advance(minutes=3)
    assert client_request.get(f"/v/{token}").text("#status") == "使用功能中止"


def test_verification_page_htmx_partial(client_request, dbsession, clock):
    page = client_request.get(f"/v/{token_for(dbsession, '李娜', clock())}", htmx=True)
    assert page.soup.title.get_text().startswith("居住证核验结果")
