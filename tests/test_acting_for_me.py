"""可以为我办理的人 (SPEC 11.3): on /family, everyone who has me on their family list, with
relation and date; I can take myself off a list, and that person is told by SMS."""

from __future__ import annotations

import pytest
from sqlmodel import select

from epermit import demo
from epermit.models import FamilyLink, Person


def person(session, name) -> Person:
    return session.exec(select(Person).where(Person.name == name)).one()


@pytest.fixture
def zhao_on_zhang_weis_list(dbsession, clock):
    """As if 赵强 had consented to be on 张伟's list (the consent walk is tests/test_family)."""
    link = FamilyLink(
        person_id=person(dbsession, "张伟").id,
        member_id=person(dbsession, "赵强").id,
        relationship="other_relative",
        created_at=clock(),
        basis="consented",
    )
    dbsession.add(link)
    dbsession.commit()
    return link


def links(dbsession):
    dbsession.rollback()
    return {(link.person_id, link.member_id) for link in dbsession.exec(select(FamilyLink))}


def acting_for_me(page):
    section = page.soup.select_one("#acting-for-me-list")
    return [h3.get_text(strip=True) for h3 in section.select("h3")] if section else []


def cn(d):
    return f"{d.year}年{d.month}月{d.day}日"


def test_zhao_sees_zhang_wei_with_relation_and_date(
    client_request, auth, clock, zhao_on_zhang_weis_list
):
    auth.login("赵强")
    page = client_request.get("/family")
    assert page.soup.select_one("#acting-for-me").get_text() == "可以为我办理的人"
    assert acting_for_me(page) == ["张伟"]
    card = page.text("#acting-for-me-list")
    assert "其他近亲属" in card and cn(clock.today) in card
    assert "添加依据 本人短信验证同意" in card


def test_both_parents_and_a_spouse_are_shown_where_they_list_me(client_request, auth):
    auth.login("张伟")
    assert acting_for_me(client_request.get("/family")) == ["李娜"]


def test_nobody_lists_me(client_request, auth):
    auth.login("王芳")
    page = client_request.get("/family")
    assert acting_for_me(page) == [] and "目前没有人把您列为家庭成员" in page.main_text


def test_zhao_removes_himself_and_zhang_wei_is_told(
    client_request, auth, dbsession, outbox, zhao_on_zhang_weis_list
):
    zhang, zhao = person(dbsession, "张伟"), person(dbsession, "赵强")
    auth.login("赵强")
    url = f"/family/acting-for-me/{zhang.id}/leave"
    confirm = client_request.get(url)
    assert confirm.h1 == "退出张伟的家庭成员名单"
    answer = client_request.post(url)
    assert answer.location == "/family"
    page = client_request.get("/family")
    assert "您已退出张伟的家庭成员名单" in page.text(".notice")
    assert acting_for_me(page) == []
    assert (zhang.id, zhao.id) not in links(dbsession)
    texts = [m["text"] for m in outbox.messages(demo.phone("张伟"))]
    assert any("赵强已将自己从您的家庭成员中移除" in text for text in texts)


def test_removing_oneself_twice_says_so_and_changes_nothing(
    client_request, auth, dbsession, outbox, zhao_on_zhang_weis_list
):
    zhang = person(dbsession, "张伟")
    auth.login("赵强")
    url = f"/family/acting-for-me/{zhang.id}/leave"
    client_request.post(url)
    before, sent = links(dbsession), len(outbox.messages())
    client_request.post(url)
    assert "您不在该家庭成员名单中，无需退出" in client_request.get("/family").main_text
    assert links(dbsession) == before and len(outbox.messages()) == sent


def test_leaving_a_list_one_is_not_on_is_refused_and_nothing_changes(
    client_request, auth, dbsession, outbox
):
    li_na = person(dbsession, "李娜")
    auth.login("赵强")  # on nobody's list
    before, sent = links(dbsession), len(outbox.messages())
    client_request.get(f"/family/acting-for-me/{li_na.id}/leave", expected_status=404)
    client_request.post(f"/family/acting-for-me/{li_na.id}/leave")
    assert "您不在该家庭成员名单中" in client_request.get("/family").text(".notice")
    client_request.post("/family/acting-for-me/99999999999999999999/leave", expected_status=404)
    assert links(dbsession) == before and len(outbox.messages()) == sent


def test_leaving_needs_csrf(client_request, auth, dbsession, zhao_on_zhang_weis_list):
    zhang = person(dbsession, "张伟")
    auth.login("赵强")
    client_request.post(f"/family/acting-for-me/{zhang.id}/leave", expected_status=400, csrf=False)
    assert (zhang.id, person(dbsession, "赵强").id) in links(dbsession)


def test_after_leaving_zhang_wei_can_no_longer_switch_to_zhao(
    client_request, auth, dbsession, zhao_on_zhang_weis_list
):
    zhang, zhao = person(dbsession, "张伟"), person(dbsession, "赵强")
    auth.login("赵强")
    client_request.post(f"/family/acting-for-me/{zhang.id}/leave")
    auth.login("张伟")
    client_request.post("/family/switch", {"member": str(zhao.id)}, expected_status=404)
