"""Who may act for whom, and on what basis (epermit.policy), on the SPEC 7 demo world."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from epermit import policy
from epermit.models import Permit, Person
from epermit.policy import Basis


def pid(session: Session, name: str) -> int:
    person = session.exec(select(Person).where(Person.name == name)).one()
    assert person.id is not None
    return person.id


def permit_of(session: Session, name: str) -> Permit:
    return session.exec(select(Permit).where(Permit.person_id == pid(session, name))).one()


def test_a_holder_and_their_family_may_view_and_nobody_else(dbsession):
    zhang, li_na, xiaoming, zhao = (pid(dbsession, n) for n in ("张伟", "李娜", "张小明", "赵强"))
    assert policy.viewing_basis(dbsession, zhang, zhang) is Basis.SELF
    assert policy.viewing_basis(dbsession, zhang, xiaoming) is Basis.FAMILY
    assert policy.viewing_basis(dbsession, zhang, li_na) is Basis.FAMILY
    assert policy.viewing_basis(dbsession, zhao, xiaoming) is None
    # A list is one person's: being on 张伟's list gives 李娜 nothing of 赵强's.
    assert not policy.may_view(dbsession, li_na, zhao)


def test_acting_for_a_stranger_needs_their_consent(dbsession):
    zhao, li_na = pid(dbsession, "赵强"), pid(dbsession, "李娜")
    with pytest.raises(policy.NotFamilyMember):
        policy.acting_basis(dbsession, zhao, li_na, consented=False)
    assert policy.acting_basis(dbsession, zhao, li_na, consented=True) is Basis.CONSENT


@pytest.mark.parametrize(
    ("actor", "holder", "role", "uscc", "basis"),
    [
        ("陈军", "李娜", "landlord", None, Basis.LANDLORD),
        ("黄丽", "张伟", "employer", "91440106MA5ABC120A", Basis.EMPLOYER),
        ("周敏", "张小明", "school", "12440111455123453T", Basis.SCHOOL),
        ("吴刚", "王芳", "hotel", "91440104MA5HXT887K", Basis.HOTEL),
        ("张伟", "李娜", "family", None, Basis.FAMILY),
        ("赵强", "赵强", "self", None, Basis.SELF),
    ],
)
def test_each_recorded_declarant_has_its_basis(dbsession, actor, holder, role, uscc, basis):
    permit = permit_of(dbsession, holder)
    got = policy.declaring_basis(
        dbsession, role=role, actor_id=pid(dbsession, actor), permit=permit, organisation_uscc=uscc
    )
    assert got is basis


@pytest.mark.parametrize(
    ("actor", "holder", "role", "uscc", "refusal"),
    [
        ("陈军", "赵强", "landlord", None, policy.NotRecordedLandlord),
        ("黄丽", "李娜", "employer", "91440106MA5ABC120A", policy.NotRecordedOrganisation),
        ("赵强", "张伟", "employer", "91440106MA5ABC120A", policy.NotOperator),
        ("黄丽", "张伟", "school", "91440106MA5ABC120A", policy.UnknownOrganisation),
        ("赵强", "李娜", "family", None, policy.NotFamilyMember),
        ("张伟", "张伟", "family", None, policy.NotFamilyMember),
        ("张伟", "李娜", "self", None, policy.DeclarantMismatch),
    ],
)
def test_anyone_else_is_refused_with_the_reason(dbsession, actor, holder, role, uscc, refusal):
    with pytest.raises(refusal):
        policy.declaring_basis(
            dbsession,
            role=role,
            actor_id=pid(dbsession, actor),
            permit=permit_of(dbsession, holder),
            organisation_uscc=uscc,
        )
