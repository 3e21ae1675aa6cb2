"""Family links need agreement (SPEC 2.9, issue 9 item 1): a link lets the adder see the
member's address, show their code and act for them, so nobody can take over a child's permit
by knowing their name and ID number."""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from epermit import db, demo, policy
from epermit.models import Deregistration, FamilyLink, Person
from epermit.vocabulary import LinkBasis
from tests.test_deregister_wizard import person_declarant, reason, start, walk
from tests.test_family import add, add_holder, member_names, person_id

ZHANG_XIAOMING = demo.person("张小明")


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_takeover_walk_is_refused(client_request, auth, outbox, dbsession):
    """The issue's walk: 赵强, no relation, adds 张小明, 切换, deregisters him."""
    auth.login("赵强")
    answer = add(client_request, "张小明", ZHANG_XIAOMING.id_number, "child")
    # 张小明 has no phone and is on his parents' lists: one of them must approve.
    assert answer.location == "/family/add/consent"
    page = client_request.get("/family/add/consent")
    assert page.h1 == "输入张小明的家庭成员收到的验证码"
    assert "须经已将其添加为家庭成员的亲属同意" in page.main_text
    asked = outbox.messages(demo.phone("张伟"))[-1]["text"]
    assert "赵强申请将您的家庭成员张小明添加为其家庭成员" in asked
    assert all("登录验证码" in m["text"] for m in outbox.messages(demo.phone("赵强")))
    # Without the parent's code he gets nowhere.
    page = client_request.post(
        "/family/add/consent",
        {"consent_code": wrong(outbox.last_code(demo.phone("张伟")))},
        expected_status=422,
    )
    assert page.errors()["consent_code"].startswith("验证码不正确")
    assert member_names(client_request.get("/family")) == ["赵强(本人)"]
    # 切换 to him is as for anyone else not on the list.
    client_request.post(
        "/family/switch", {"member": person_id(dbsession, "张小明")}, expected_status=404
    )
    assert client_request.get("/permit").h1 == "我的居住证"
    # Declaring as family names him as applicant: refused next to the field.
    draft = start(client_request)
    walk(client_request, draft, "family", person_declarant("赵强"))
    page = client_request.post(
        f"/deregister/{draft}/applicant",
        {
            "member": "other",
            "applicant_name": "张小明",
            "applicant_id_number": ZHANG_XIAOMING.id_number,
        },
        expected_status=422,
    )
    assert page.errors() == {
        "applicant_id_number": (
            "该申请人没有登记手机号码,无法通过短信确认同意。请先在“家庭成员”中添加该申请人后再办理"
        )
    }
    dbsession.rollback()
    assert len(dbsession.exec(select(Deregistration)).all()) == 1  # 刘洋's, from the demo
    zhang_xiaoming = person_id(dbsession, "张小明")
    assert not policy.is_family_member(dbsession, person_id(dbsession, "赵强"), zhang_xiaoming)
    auth.logout()
    auth.login("张伟")
    client_request.post("/family/switch", {"member": zhang_xiaoming})
    assert client_request.get("/permit").text("#status") == "待签注"


def test_a_parent_approves_a_relative_adding_their_child_and_everyone_is_told(
    client_request, auth, outbox, dbsession
):
    auth.login("王芳")
    add(client_request, "张小明", ZHANG_XIAOMING.id_number, "grandchild")
    code = outbox.last_code(demo.phone("张伟"))
    client_request.post("/family/add/consent", {"consent_code": code})
    assert "张小明" in member_names(client_request.get("/family"))
    link = dbsession.exec(
        select(FamilyLink).where(
            FamilyLink.person_id == person_id(dbsession, "王芳"),
            FamilyLink.member_id == person_id(dbsession, "张小明"),
        )
    ).one()
    assert link.basis == "approved"
    # Both parents are told; the child has no phone.
    for parent in ("张伟", "李娜"):
        told = outbox.messages(demo.phone(parent))[-1]["text"]
        assert "王芳已将您的家庭成员张小明添加为其家庭成员" in told
    assert all("登录验证码" in m["text"] for m in outbox.messages(demo.phone("王芳")))


def test_a_member_with_a_phone_consents_and_those_who_list_them_are_told(
    client_request, auth, outbox
):
    auth.login("赵强")
    add(client_request, "李娜", demo.person("李娜").id_number, "sibling")
    asked = outbox.messages(demo.phone("李娜"))[-1]
    assert "赵强申请将您添加为家庭成员" in asked["text"]
    client_request.post("/family/add/consent", {"consent_code": asked["code"]})
    assert "赵强已将您添加为家庭成员" in outbox.messages(demo.phone("李娜"))[-1]["text"]
    assert "赵强已将您的家庭成员李娜添加为其家庭成员" in (
        outbox.messages(demo.phone("张伟"))[-1]["text"]
    )


def test_a_direct_link_allows_viewing_but_stops_deregistration_at_the_counter(
    client_request, auth, dbsession, outbox
):
    add_holder(dbsession, "孙小红", "110101201601010027")
    auth.login("赵强")
    assert add(client_request, "孙小红", "110101201601010027", "child").location == "/family"
    client_request.post("/family/switch", {"member": person_id(dbsession, "孙小红")})
    assert client_request.get("/permit").h1 == "孙小红的居住证"
    draft = start(client_request)
    walk(client_request, draft, "family", person_declarant("赵强"))
    answer = client_request.post(
        f"/deregister/{draft}/applicant", {"member": str(person_id(dbsession, "孙小红"))}
    )
    assert answer.location == f"/deregister/{draft}/stop"
    page = client_request.get(answer.location)
    assert page.h1 == "不能在网上为孙小红申报注销"
    assert "请携带您和孙小红的身份证件" in page.main_text
    assert "广州市公安局天河分局" in page.main_text  # the counter of her district
    # Nothing further opens, and nothing was recorded.
    assert client_request.get(f"/deregister/{draft}/reason", expected_status=303).location == (
        f"/deregister/{draft}/stop"
    )
    dbsession.rollback()
    holder = person_id(dbsession, "孙小红")
    assert policy.link_basis(dbsession, person_id(dbsession, "赵强"), holder) is LinkBasis.DIRECT
    assert len(dbsession.exec(select(Deregistration)).all()) == 1  # 刘洋's, from the demo


def test_policy_refuses_a_direct_link_deregistering(dbsession, clock):
    child = add_holder(dbsession, "孙小红", "110101201601010027")
    zhao = person_id(dbsession, "赵强")
    dbsession.add(
        FamilyLink(
            person_id=zhao,
            member_id=child.id,
            relationship="child",
            created_at=clock(),
            basis=LinkBasis.DIRECT,
        )
    )
    dbsession.commit()
    from epermit.services import permits

    permit = permits.current_permit(dbsession, child.id)
    assert permit is not None
    with pytest.raises(policy.DirectLinkCannotDeregister):
        policy.declaring_basis(dbsession, role="family", actor_id=zhao, permit=permit)
    # Viewing and acting (endorsement) are allowed on it.
    assert policy.acting_basis(dbsession, zhao, child.id, consented=False) is policy.Basis.FAMILY


def test_who_must_agree_follows_phone_age_and_lists(dbsession, clock):
    today = clock.today
    li_na = dbsession.exec(select(Person).where(Person.name == "李娜")).one()
    child = dbsession.exec(select(Person).where(Person.name == "张小明")).one()
    assert policy.adding_agreement(dbsession, li_na, today).basis is LinkBasis.CONSENTED
    approval = policy.adding_agreement(dbsession, child, today)
    assert approval.basis is LinkBasis.APPROVED and approval.agreeing is not None
    assert approval.agreeing.name == "张伟"  # the first to list him
    teen = add_holder(dbsession, "孙小红", "110101201601010027", phone="13800000038")
    assert policy.adding_agreement(dbsession, teen, today).basis is LinkBasis.CONSENTED
    adult = add_holder(dbsession, "孙涛", "110101199001010031")
    with pytest.raises(policy.NobodyToAgree):
        policy.adding_agreement(dbsession, adult, today)


def test_every_case_done_for_a_member_is_told_to_everyone_listing_them(
    client_request, auth, outbox, clock
):
    auth.login("张伟")
    location = client_request.get("/endorse", expected_status=303).location
    draft = location.rsplit("/", 1)[0]
    client_request.post(f"{draft}/who", {"for_whom": "other"})
    client_request.post(
        f"{draft}/applicant",
        {
            "agent_name": "张伟",
            "agent_id_number": demo.person("张伟").id_number,
            "agent_phone": demo.phone("张伟"),
            "member": _member_value(client_request, draft, "张小明"),
            "relationship": "child",
        },
    )
    client_request.post(f"{draft}/residence", {"address_unchanged": "yes"})
    client_request.post(f"{draft}/check", {"declaration": "y"})
    told = outbox.messages(demo.phone("李娜"))[-1]["text"]
    assert "张伟已为您的家庭成员张小明办理居住证签注" in told
    assert not any("张小明" in m["text"] for m in outbox.messages(demo.phone("张伟")))
    # The landlord declares his departure: both parents are told.
    auth.logout()
    auth.login("陈军")
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("陈军"), holder="张小明")
    client_request.post(f"/deregister/{draft}/reason", reason(clock.today, reason="moved_out"))
    client_request.post(f"/deregister/{draft}/check", {"declaration": "y"})
    for parent in ("张伟", "李娜"):
        told = outbox.messages(demo.phone(parent))[-1]["text"]
        assert "陈*已申报注销您的家庭成员张小明的居住证" in told


def _member_value(client_request, draft: str, name: str) -> str:
    page = client_request.get(f"{draft}/applicant")
    for radio in page.soup.select("input[name=member]"):
        label = page.soup.select_one(f'label[for="{radio["id"]}"]')
        if label is not None and label.get_text().startswith(name):
            return str(radio["value"])
    raise AssertionError(f"{name} is not offered")


def scratch_database(tmp_path: Path) -> str:
    """An empty database of the kind the suite runs on: a SQLite file, or a schema of its
    own in the PostgreSQL database of TEST_DATABASE_URL (the suite's own schema untouched)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS migration_0005 CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA migration_0005"))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3Dmigration_0005"


def test_the_migration_marks_links_made_by_name_and_id_direct(tmp_path: Path):
    """Links made before agreement was required: audit events say which were direct."""
    url = scratch_database(tmp_path)
    config = db.alembic_config(url)
    command.upgrade(config, "0004")
    engine = sa.create_engine(url)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for n, (name, id_number) in enumerate(
            [("张伟", "430102199003071234"), ("赵强", "410102199309144711"),
             ("张小明", "430102201509051273")],
            start=1,
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO person (id, id_number, name, sex, ethnicity, birth_date, hukou,"
                    " session_epoch) VALUES (:id, :idn, :name, '男', '汉族', :birth, 'x', 0)"
                ),
                {"id": n, "idn": id_number, "name": name, "birth": date(2000, 1, 1)},
            )
        for owner in (1, 2):
            connection.execute(
                sa.text(
                    "INSERT INTO familylink (person_id, member_id, relationship, created_at)"
                    " VALUES (:owner, 3, 'child', :now)"
                ),
                {"owner": owner, "now": now},
            )
        connection.execute(
            sa.text(
                "INSERT INTO auditevent (actor_id, subject_id, action, detail, at)"
                " VALUES (2, 3, 'family_member_added', :detail, :now)"
            ),
            {"detail": json.dumps({"relationship": "child", "basis": "name_and_id"}), "now": now},
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        bases: dict[int, str] = dict(
            connection.execute(sa.text("SELECT person_id, basis FROM familylink")).all()
        )
    engine.dispose()
    if url.startswith("postgresql"):
        with sa.create_engine(os.environ["TEST_DATABASE_URL"]).begin() as connection:
            connection.execute(sa.text("DROP SCHEMA migration_0005 CASCADE"))
    assert bases == {1: "consented", 2: "direct"}


def test_the_migration_writes_the_check_the_model_derives():
    path = Path(__file__).parents[1] / "site/migrations/versions/0005_family_link_basis.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    from tests.test_vocabulary import checks_of

    assert migration.BASES in checks_of(FamilyLink)
    assert migration.BASES == "basis IN ('consented', 'approved', 'direct')"
