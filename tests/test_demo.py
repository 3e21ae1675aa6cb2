"""The demo world of SPEC 7 as seeded: the people, places and links other tests rely on."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from epermit import demo
from epermit.models import Address, Deregistration, Permit, Person


def people_at(dbsession, line: str) -> list[str]:
    query = (
        select(Person.name)
        .join(Permit, col(Permit.person_id) == Person.id)
        .join(Address, col(Address.id) == Permit.address_id)
        .where(Address.line == line, Permit.is_current)
        .order_by(Person.name)
    )
    return list(dbsession.exec(query).all())


def test_chen_jun_answers_for_eight_addresses_and_nine_tenants(dbsession):
    chen = dbsession.exec(select(Person).where(Person.name == "陈军")).one()
    lines = dbsession.exec(select(Address.line).where(Address.landlord_id == chen.id)).all()
    assert sorted(lines) == sorted([demo.HOME[1], *demo.SANYUANLI_ROOMS])
    tenants = [name for line in lines for name in people_at(dbsession, line)]
    assert sorted(tenants) == sorted(
        ["张伟", "李娜", "张小明", "孙丽", "马超", "何静", "郭鹏", "林芳", "罗明"]
    )
    assert people_at(dbsession, "广州市白云区三元里大道200号207房") == []


def test_turn_two_tenants_have_the_permits_of_spec_7(dbsession, clock):
    def permit_of(name: str) -> Permit:
        query = select(Permit).join(Person).where(Person.name == name, Permit.is_current)
        return dbsession.exec(query).one()

    sun = permit_of("孙丽")
    assert sun.valid_until == clock.today + timedelta(days=90)
    assert sun.issuing_authority == "广州市公安局白云分局"
    assert permit_of("马超").employer_id is not None
    assert permit_of("郭鹏").valid_until == clock.today - timedelta(days=3)


def test_vacant_flats_of_gao_feng_and_li_na_are_in_the_register(dbsession):
    for name, (district, line) in (("高峰", demo.GAOFENG_FLAT), ("李娜", demo.LINA_FLAT)):
        place = dbsession.exec(select(Address).where(Address.line == line)).one()
        owner = dbsession.get(Person, place.landlord_id)
        assert (owner.name, place.district) == (name, district)
        assert people_at(dbsession, line) == []
    assert dbsession.exec(select(Person).where(Person.name == "高峰")).one().phone == demo.phone(
        "高峰"
    )


def test_a_permit_is_registered_at_its_address_from_its_issue_date(dbsession, clock):
    permits = dbsession.exec(select(Permit)).all()
    # But 赵强, who moved to his address after his permit was issued (registration history).
    zhao = dbsession.exec(select(Person).where(Person.name == "赵强")).one()
    others = [p for p in permits if p.person_id != zhao.id]
    assert others and all(p.registered_since == p.issue_date for p in others)
    moved = next(p for p in permits if p.person_id == zhao.id)
    assert moved.registered_since == clock.today - timedelta(days=demo.ZHAO_MOVED_DAYS_AGO)


def test_a_permit_says_it_is_deregistered_exactly_when_a_deregistration_names_it(dbsession):
    # Rosters read Permit.deregistered (SPEC 13); 刘洋's is the demo's one deregistration.
    flagged = set(dbsession.exec(select(Permit.id).where(Permit.deregistered)).all())
    named = set(dbsession.exec(select(Deregistration.permit_id)).all())
    liu = dbsession.exec(select(Person).where(Person.name == "刘洋")).one()
    assert flagged == named == {dbsession.exec(select(Permit.id).where(Permit.person_id == liu.id)).one()}
