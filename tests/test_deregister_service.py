"""The deregistration service (注销, SPEC 2.8, 2.10, 5, 6) on the SPEC 7 demo world.

Who may declare for whom, what is recorded, what the holder is told, and "once" whatever
the concurrency, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, func, select
from stdnum.cn import uscc as stdnum_uscc

from epermit import db, policy, rules
from epermit.acting import Acting
from epermit.models import AuditEvent, Case, Deregistration, Permit, Person, SmsOutbox
from epermit.services import deregister, endorse, permits, sms
from epermit.services.deregister import Declaration
from epermit.services.references import is_well_formed
from epermit.sql import saved_id
from epermit.vocabulary import DeclarantRole, Reason

EMPLOYER = "91440106MA5ABC120A"
SCHOOL = "12440111455123453T"
HOTEL = "91440104MA5HXT887K"

# A well-formed credit code that no organisation in the demo world has.
UNKNOWN_USCC = "91440101MA5XYW123" + stdnum_uscc.calc_check_digit("91440101MA5XYW123")


def person(session: Session, name: str) -> Person:
    return session.exec(select(Person).where(Person.name == name)).one()


def permit_of(session: Session, name: str) -> Permit:
    holder = person(session, name)
    return session.exec(select(Permit).where(Permit.person_id == holder.id)).one()


@dataclasses.dataclass(frozen=True)
class Attempt(Declaration):
    """A declaration with who makes it, which the service takes as an `Acting` beside it."""

    actor_id: int = 0


def acting(session: Session, clock, decl: Attempt) -> Acting:
    actor = session.get(Person, decl.actor_id)
    assert actor is not None
    return Acting(person=actor, now=clock(), today=clock.today, client_address="203.0.113.7")


def authorise(session: Session, clock, decl: Attempt) -> Permit:
    return deregister.authorise(session, decl, acting(session, clock, decl))


def declaration(
    session: Session,
    actor: str,
    applicant: str,
    role: str,
    today,
    *,
    uscc: str | None = None,
    reason: str = "left_city",
    reason_detail: str | None = None,
    leave_date=None,
    consented: bool = False,
) -> Attempt:
    return Attempt(
        role=DeclarantRole(role),
        actor_id=saved_id(person(session, actor)),
        applicant_id=saved_id(person(session, applicant)),
        reason=Reason(reason),
        reason_detail=reason_detail,
        leave_date=today if leave_date is None else leave_date,
        organisation_uscc=uscc,
        consented=consented,
    )


def declare(session: Session, clock, decl: Attempt) -> Case:
    return deregister.declare(session, decl, acting(session, clock, decl))


def row_counts(session: Session) -> dict[str, int]:
    return {
        table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in SQLModel.metadata.sorted_tables
    }


def sms_to(session: Session, name: str) -> list[SmsOutbox]:
    phone = person(session, name).phone
    return list(session.exec(select(SmsOutbox).where(SmsOutbox.to == phone)).all())


# --- Each recorded relation may declare (SPEC 2.8) ------------------------------------------

RECORDED_DECLARANTS = [
    pytest.param("陈军", "李娜", "landlord", None, "moved_out", id="landlord-陈军-李娜"),
    pytest.param("黄丽", "张伟", "employer", EMPLOYER, "left_job", id="employer-黄丽-张伟"),
    pytest.param("周敏", "张小明", "school", SCHOOL, "left_school", id="school-周敏-张小明"),
    pytest.param("吴刚", "王芳", "hotel", HOTEL, "checked_out", id="hotel-吴刚-王芳"),
    pytest.param("张伟", "李娜", "family", None, "left_city", id="family-张伟-李娜"),
    pytest.param("赵强", "赵强", "self", None, "left_city", id="self-赵强"),
]


@pytest.mark.parametrize(("actor", "applicant", "role", "uscc", "reason"), RECORDED_DECLARANTS)
def test_recorded_declarant_deregisters_the_holder_at_once(
    dbsession, clock, actor, applicant, role, uscc, reason
):
    decl = declaration(dbsession, actor, applicant, role, clock.today, uscc=uscc, reason=reason)
    permit = authorise(dbsession, clock, decl)
    assert permit.id == permit_of(dbsession, applicant).id

    case = declare(dbsession, clock, decl)
    dbsession.commit()

    assert case.kind == "deregister" and case.outcome == "deregistered"
    assert is_well_formed(case.reference)
    assert case.reference.startswith(f"ZX{clock.today:%Y%m%d}")
    assert case.permit_id == permit.id
    assert case.applicant_id == person(dbsession, applicant).id
    assert case.agent_id == person(dbsession, actor).id
    assert case.details["declarant_role"] == role
    assert case.details["reason"] == reason
    assert case.details["leave_date"] == clock.today.isoformat()
    record = deregister.deregistration_of(dbsession, permit.id)
    assert record is not None
    assert record.case_id == case.id
    assert record.declarant_role == role
    assert record.declarant_id == person(dbsession, actor).id
    assert record.leave_date == clock.today
    assert record.declared_at is not None
    if uscc:
        assert case.details["org_uscc"] == uscc
        assert record.organisation_id == getattr(permit, f"{role}_id")
    else:
        assert case.details["org_name"] is None and record.organisation_id is None
    card = permits.card_of(dbsession, person(dbsession, applicant), clock.today)
    assert card.status == rules.PermitStatus.DEREGISTERED
    assert not card.can_endorse and not card.can_show_code and not card.can_deregister
    # The permit says so itself, in the database (rosters read it there, SPEC 13).
    dbsession.expire_all()
    assert permit_of(dbsession, applicant).deregistered


def test_employer_declaration_records_the_organisation_name(dbsession, clock):
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today, uscc=EMPLOYER)
    case = declare(dbsession, clock, decl)
    assert case.details["org_name"] == "广州示例科技有限公司"


def test_suspended_permit_can_be_deregistered_by_its_hotel(dbsession, clock):
    card = permits.card_of(dbsession, person(dbsession, "王芳"), clock.today)
    assert card.status == rules.PermitStatus.SUSPENDED
    decl = declaration(dbsession, "吴刚", "王芳", "hotel", clock.today, uscc=HOTEL)
    declare(dbsession, clock, decl)


def test_deregistered_permit_can_no_longer_be_endorsed(dbsession, clock):
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today, uscc=EMPLOYER)
    declare(dbsession, clock, decl)
    with pytest.raises(rules.PermitDeregistered):
        endorse.assess(dbsession, person(dbsession, "张伟").id, clock.today)


def test_credit_code_is_matched_after_normalising(dbsession, clock):
    typed = " 91440106ma5abc120a "
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today, uscc=typed)
    assert authorise(dbsession, clock, decl).id == permit_of(dbsession, "张伟").id


def test_non_member_who_consented_by_sms_may_be_deregistered_as_family(dbsession, clock):
    decl = declaration(dbsession, "赵强", "李娜", "family", clock.today, consented=True)
    case = declare(dbsession, clock, decl)
    assert case.details["consented"] is True
    assert case.agent_id == person(dbsession, "赵强").id


# --- Anyone else is refused, and nothing changes --------------------------------------------


def test_landlord_of_other_address_cannot_deregister(dbsession, clock):
    decl = declaration(dbsession, "陈军", "王芳", "landlord", clock.today)
    with pytest.raises(deregister.NotRecordedLandlord):
        authorise(dbsession, clock, decl)


def test_employer_cannot_deregister_someone_it_does_not_employ(dbsession, clock):
    decl = declaration(dbsession, "黄丽", "李娜", "employer", clock.today, uscc=EMPLOYER)
    with pytest.raises(deregister.NotRecordedOrganisation):
        authorise(dbsession, clock, decl)


def test_school_cannot_deregister_a_pupil_of_another_relation(dbsession, clock):
    # 张伟 is employed, not schooled: the school is not recorded on his registration.
    decl = declaration(dbsession, "周敏", "张伟", "school", clock.today, uscc=SCHOOL)
    with pytest.raises(deregister.NotRecordedOrganisation):
        authorise(dbsession, clock, decl)


def test_stranger_cannot_deregister_as_family_without_consent(dbsession, clock):
    decl = declaration(dbsession, "赵强", "李娜", "family", clock.today)
    with pytest.raises(deregister.NotFamilyMember):
        authorise(dbsession, clock, decl)


def test_stranger_cannot_deregister_as_landlord(dbsession, clock):
    decl = declaration(dbsession, "赵强", "李娜", "landlord", clock.today)
    with pytest.raises(deregister.NotRecordedLandlord):
        authorise(dbsession, clock, decl)


@pytest.mark.parametrize(("role", "uscc"), [("employer", EMPLOYER), ("school", SCHOOL)])
def test_stranger_cannot_deregister_as_an_organisation_he_does_not_operate(
    dbsession, clock, role, uscc
):
    applicant = "张伟" if role == "employer" else "张小明"
    decl = declaration(dbsession, "赵强", applicant, role, clock.today, uscc=uscc)
    with pytest.raises(deregister.NotOperator):
        authorise(dbsession, clock, decl)


def test_self_role_cannot_name_someone_else_as_applicant(dbsession, clock):
    decl = declaration(dbsession, "赵强", "李娜", "self", clock.today)
    with pytest.raises(deregister.DeclarantMismatch):
        authorise(dbsession, clock, decl)


def test_holder_cannot_be_their_own_family_member(dbsession, clock):
    decl = declaration(dbsession, "赵强", "赵强", "family", clock.today, consented=True)
    with pytest.raises(deregister.NotFamilyMember):
        authorise(dbsession, clock, decl)


def test_typing_another_persons_id_does_not_borrow_their_role(dbsession):
    zhao, chen = person(dbsession, "赵强"), person(dbsession, "陈军")
    with pytest.raises(deregister.DeclarantMismatch):
        deregister.check_declarant_person(dbsession, zhao.id, chen.name, chen.id_number)
    # Own name with the other's number, and the other's name with one's own number, neither.
    with pytest.raises(deregister.DeclarantMismatch):
        deregister.check_declarant_person(dbsession, zhao.id, zhao.name, chen.id_number)
    with pytest.raises(deregister.DeclarantMismatch):
        deregister.check_declarant_person(dbsession, zhao.id, chen.name, zhao.id_number)


def test_own_name_and_id_number_pass_the_declarant_check_as_typed(dbsession):
    zhao = person(dbsession, "赵强")
    deregister.check_declarant_person(dbsession, zhao.id, "赵强", zhao.id_number)
    # Full-width digits and spaces from a Chinese input method are the same number.
    typed = " ".join(zhao.id_number[i : i + 6] for i in range(0, 18, 6))
    typed = typed.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    deregister.check_declarant_person(dbsession, zhao.id, " 赵强 ", typed)


def test_operator_of_another_organisation_cannot_declare_for_it(dbsession, clock):
    huang = person(dbsession, "黄丽")
    with pytest.raises(deregister.NotOperator):
        policy.operated_organisation(dbsession, huang.id, "hotel", HOTEL)
    decl = declaration(dbsession, "周敏", "张伟", "employer", clock.today, uscc=EMPLOYER)
    with pytest.raises(deregister.NotOperator):
        authorise(dbsession, clock, decl)


def test_operator_check_returns_the_organisation(dbsession):
    organisation = policy.operated_organisation(
        dbsession, person(dbsession, "吴刚").id, "hotel", HOTEL
    )
    assert organisation.name == "广州示例酒店有限公司"


def test_unknown_credit_code_is_refused(dbsession, clock):
    huang = person(dbsession, "黄丽")
    with pytest.raises(deregister.UnknownOrganisation):
        policy.operated_organisation(dbsession, huang.id, "employer", UNKNOWN_USCC)
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today, uscc=UNKNOWN_USCC)
    with pytest.raises(deregister.UnknownOrganisation):
        authorise(dbsession, clock, decl)


def test_credit_code_of_another_kind_of_organisation_is_unknown_for_the_role(dbsession):
    # The employer's code does not name a school, even for the employer's own operator.
    with pytest.raises(deregister.UnknownOrganisation):
        policy.operated_organisation(dbsession, person(dbsession, "黄丽").id, "school", EMPLOYER)


def test_organisation_role_without_credit_code_is_refused(dbsession, clock):
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today)
    with pytest.raises(deregister.UnknownOrganisation):
        authorise(dbsession, clock, decl)


def test_person_without_permit_has_nothing_to_deregister(dbsession, clock):
    decl = declaration(dbsession, "陈军", "陈军", "self", clock.today)
    with pytest.raises(deregister.NoPermit):
        authorise(dbsession, clock, decl)


def test_unknown_role_or_reason_is_a_programming_error(dbsession, clock):
    decl = declaration(dbsession, "赵强", "赵强", "self", clock.today)
    with pytest.raises(ValueError):
        authorise(dbsession, clock, dataclasses.replace(decl, role="police"))
    with pytest.raises(ValueError):
        authorise(dbsession, clock, dataclasses.replace(decl, reason="bored"))


# --- Already deregistered: changes nothing and says so --------------------------------------


def test_already_deregistered_permit_changes_nothing_and_says_so(dbsession, clock):
    decl = declaration(dbsession, "刘洋", "刘洋", "self", clock.today)
    before = row_counts(dbsession)
    with pytest.raises(deregister.AlreadyDeregistered) as refused:
        declare(dbsession, clock, decl)
    assert refused.value.deregistration.leave_date == clock.today - timedelta(days=30)
    assert refused.value.deregistration.permit_id == permit_of(dbsession, "刘洋").id
    assert row_counts(dbsession) == before


def test_second_declaration_is_told_of_the_first(dbsession, clock):
    first = declare(
        dbsession, clock, declaration(dbsession, "陈军", "李娜", "landlord", clock.today)
    )
    dbsession.commit()
    clock.advance(hours=1)
    again = declaration(dbsession, "张伟", "李娜", "family", clock.today)
    with pytest.raises(deregister.AlreadyDeregistered) as refused:
        declare(dbsession, clock, again)
    assert refused.value.deregistration.case_id == first.id
    assert refused.value.deregistration.declarant_role == "landlord"


def test_stranger_is_not_told_that_a_permit_is_deregistered(dbsession, clock):
    # The relation is checked first, so 赵强 learns nothing about 刘洋's permit.
    decl = declaration(dbsession, "赵强", "刘洋", "landlord", clock.today)
    with pytest.raises(deregister.NotRecordedLandlord):
        authorise(dbsession, clock, decl)


# --- Reason and leave date -------------------------------------------------------------------


def test_leave_date_in_the_future_is_refused(dbsession, clock):
    tomorrow = clock.today + timedelta(days=1)
    decl = declaration(dbsession, "赵强", "赵强", "self", clock.today, leave_date=tomorrow)
    with pytest.raises(deregister.LeaveDateInFuture):
        authorise(dbsession, clock, decl)


def test_leave_date_before_issue_date_is_refused_with_the_issue_date(dbsession, clock):
    issued = permit_of(dbsession, "赵强").issue_date
    decl = declaration(
        dbsession, "赵强", "赵强", "self", clock.today, leave_date=issued - timedelta(days=1)
    )
    with pytest.raises(deregister.LeaveDateBeforeIssue) as refused:
        authorise(dbsession, clock, decl)
    assert refused.value.issue_date == issued


def test_leave_date_on_the_issue_date_is_accepted(dbsession, clock):
    issued = permit_of(dbsession, "赵强").issue_date
    decl = declaration(dbsession, "赵强", "赵强", "self", clock.today, leave_date=issued)
    case = declare(dbsession, clock, decl)
    assert case.details["leave_date"] == issued.isoformat()


@pytest.mark.parametrize("detail", [None, "", "   "])
def test_reason_other_without_detail_is_refused(dbsession, clock, detail):
    decl = declaration(
        dbsession, "赵强", "赵强", "self", clock.today, reason="other", reason_detail=detail
    )
    with pytest.raises(deregister.ReasonDetailMissing):
        authorise(dbsession, clock, decl)


def test_reason_other_with_detail_is_recorded_trimmed(dbsession, clock):
    decl = declaration(
        dbsession, "赵强", "赵强", "self", clock.today, reason="other", reason_detail=" 出国留学 "
    )
    case = declare(dbsession, clock, decl)
    assert case.details["reason_detail"] == "出国留学"
    assert deregister.deregistration_of(dbsession, case.permit_id).reason_detail == "出国留学"


def test_reason_detail_longer_than_the_record_is_refused(dbsession, clock):
    too_long = "回" * (deregister.REASON_DETAIL_MAX_CHARS + 1)
    decl = declaration(
        dbsession, "赵强", "赵强", "self", clock.today, reason="other", reason_detail=too_long
    )
    with pytest.raises(deregister.ReasonDetailTooLong) as refused:
        authorise(dbsession, clock, decl)
    assert refused.value.max_chars == deregister.REASON_DETAIL_MAX_CHARS


# --- A refused declaration writes nothing ----------------------------------------------------

REFUSALS = [
    pytest.param("陈军", "王芳", "landlord", {}, deregister.NotRecordedLandlord, id="landlord"),
    pytest.param(
        "黄丽", "李娜", "employer", {"uscc": EMPLOYER}, deregister.NotRecordedOrganisation, id="org"
    ),
    pytest.param(
        "周敏", "张伟", "employer", {"uscc": EMPLOYER}, deregister.NotOperator, id="operator"
    ),
    pytest.param(
        "黄丽",
        "张伟",
        "employer",
        {"uscc": UNKNOWN_USCC},
        deregister.UnknownOrganisation,
        id="uscc",
    ),
    pytest.param("赵强", "李娜", "family", {}, deregister.NotFamilyMember, id="family"),
    pytest.param("赵强", "李娜", "self", {}, deregister.DeclarantMismatch, id="self"),
    pytest.param("刘洋", "刘洋", "self", {}, deregister.AlreadyDeregistered, id="already"),
    pytest.param(
        "赵强", "赵强", "self", {"leave_date": 1}, deregister.LeaveDateInFuture, id="future"
    ),
    pytest.param(
        "赵强", "赵强", "self", {"leave_date": -400}, deregister.LeaveDateBeforeIssue, id="early"
    ),
    pytest.param(
        "赵强", "赵强", "self", {"reason": "other"}, deregister.ReasonDetailMissing, id="why"
    ),
]


@pytest.mark.parametrize(("actor", "applicant", "role", "extra", "refusal"), REFUSALS)
def test_refused_declaration_writes_nothing(
    dbsession, clock, actor, applicant, role, extra, refusal
):
    extra = dict(extra)
    if "leave_date" in extra:
        extra["leave_date"] = clock.today + timedelta(days=extra["leave_date"])
    decl = declaration(dbsession, actor, applicant, role, clock.today, **extra)
    before = row_counts(dbsession)
    with pytest.raises(refusal):
        declare(dbsession, clock, decl)
    assert not dbsession.new and not dbsession.dirty
    dbsession.commit()
    assert row_counts(dbsession) == before


# --- The holder is told by SMS when someone else declared (SPEC 2.8, 5) ---------------------


def test_holder_is_told_by_sms_when_someone_else_declared(dbsession, clock, outbox):
    decl = declaration(dbsession, "陈军", "李娜", "landlord", clock.today)
    case = declare(dbsession, clock, decl)
    dbsession.commit()
    queued = sms_to(dbsession, "李娜")
    assert len(queued) == 1
    assert case.reference in queued[0].text and queued[0].code is None
    # Besides her, only whoever has her on their family list (SPEC 2.9), not the landlord.
    assert [m.to for m in dbsession.exec(select(SmsOutbox))] == ["13800000002", "13800000001"]
    assert "注销您的家庭成员李娜的居住证" in sms_to(dbsession, "张伟")[0].text

    sms.deliver_due(dbsession, sms.FileSender(str(outbox.path)), clock)
    delivered = outbox.messages("13800000002")
    assert len(delivered) == 1
    assert case.reference in delivered[0]["text"] and "注销" in delivered[0]["text"]
    assert "code" not in delivered[0]


def test_holder_is_told_which_organisation_declared(dbsession, clock):
    decl = declaration(dbsession, "黄丽", "张伟", "employer", clock.today, uscc=EMPLOYER)
    declare(dbsession, clock, decl)
    (message,) = sms_to(dbsession, "张伟")
    assert "广州示例科技有限公司" in message.text


def test_no_sms_when_holders_declare_themselves(dbsession, clock, outbox):
    declare(dbsession, clock, declaration(dbsession, "赵强", "赵强", "self", clock.today))
    dbsession.commit()
    assert dbsession.exec(select(func.count()).select_from(SmsOutbox)).one() == 0
    sms.deliver_due(dbsession, sms.FileSender(str(outbox.path)), clock)
    assert outbox.messages() == []


def test_a_holder_without_a_phone_is_told_through_everyone_listing_him(dbsession, clock):
    decl = declaration(dbsession, "周敏", "张小明", "school", clock.today, uscc=SCHOOL)
    declare(dbsession, clock, decl)
    told = sorted(m.to for m in dbsession.exec(select(SmsOutbox)))
    assert told == ["13800000001", "13800000002"]  # 张伟 and 李娜, his parents


# --- Audit (SPEC 6) --------------------------------------------------------------------------


def test_audit_event_records_who_for_whom_what_when_and_from_where(dbsession, clock):
    decl = declaration(dbsession, "吴刚", "王芳", "hotel", clock.today, uscc=HOTEL)
    case = declare(dbsession, clock, decl)
    dbsession.commit()
    (event,) = dbsession.exec(
        select(AuditEvent).where(AuditEvent.action == "permit_deregistered")
    ).all()
    assert event.actor_id == person(dbsession, "吴刚").id
    assert event.subject_id == person(dbsession, "王芳").id
    assert event.client_address == "203.0.113.7"
    assert event.at.replace(tzinfo=None) == clock().replace(tzinfo=None)
    assert event.detail["reference"] == case.reference
    assert event.detail["declarant_role"] == "hotel"
    assert event.detail["leave_date"] == clock.today.isoformat()


# --- Finding the applicant (the one lookup every wizard and the family page use) ----------


def test_applicant_is_found_by_exact_name_and_id_number(dbsession):
    li_na = person(dbsession, "李娜")
    assert permits.current_holder(dbsession, "李娜", li_na.id_number).id == li_na.id
    # As typed on a phone: full-width digits, a lower-case x, spaces.
    assert permits.current_holder(dbsession, " 李娜 ", "５１０１０４ 199208152241").id == li_na.id


@pytest.mark.parametrize(
    ("name", "id_number"),
    [
        pytest.param("李娜", "430102199003071234", id="name-of-another"),
        pytest.param("李", "510104199208152241", id="part-of-name"),
        pytest.param("陈军", "440102197804195176", id="no-permit"),
        pytest.param("无名", "110101199003070012", id="nobody"),
    ],
)
def test_applicant_not_found_without_an_exact_match_holding_a_permit(dbsession, name, id_number):
    assert permits.current_holder(dbsession, name, id_number) is None


def test_deregistered_holder_is_still_found_so_the_page_can_say_so(dbsession, clock):
    liu = person(dbsession, "刘洋")
    assert permits.current_holder(dbsession, "刘洋", liu.id_number).id == liu.id


# --- Once, enforced by the database (SPEC 2.8) ----------------------------------------------


def test_unique_key_stops_a_second_record_when_the_check_was_raced(dbsession, clock, monkeypatch):
    # As if another declaration committed between our check and our insert.
    liu_permit = permit_of(dbsession, "刘洋")
    existing = deregister.deregistration_of(dbsession, liu_permit.id)
    # The check finds no record; the insert then meets the one already there.
    monkeypatch.setattr(deregister, "_existing", lambda *_args: {})
    before = row_counts(dbsession)
    decl = declaration(dbsession, "刘洋", "刘洋", "self", clock.today)
    with pytest.raises(deregister.AlreadyDeregistered) as refused:
        declare(dbsession, clock, decl)
    assert refused.value.deregistration.id == existing.id
    # Only the savepoint was undone: the session goes on and commits nothing of it.
    dbsession.commit()
    assert row_counts(dbsession) == before


@pytest.mark.parametrize("declarants", [2, 6])
def test_concurrent_declarations_for_one_permit_record_one(app, clock, declarants):
    engine = db.engine_of(app)
    with db.session_scope(engine, write=False) as session:
        li_na = person(session, "李娜")
        parties = [
            declaration(session, "陈军", "李娜", "landlord", clock.today),
            declaration(session, "张伟", "李娜", "family", clock.today),
        ]
    barrier = threading.Barrier(declarants)
    outcomes: list[object] = [None] * declarants

    def run(index: int) -> None:
        session = db.new_session(engine, write=True)
        try:
            barrier.wait()
            try:
                case = declare(session, clock, parties[index % 2])
                session.commit()
                outcomes[index] = case.reference
            except deregister.AlreadyDeregistered as refused:
                session.rollback()
                outcomes[index] = refused
        except BaseException as error:  # reported below, not lost in the thread
            outcomes[index] = error
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(declarants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    references = [o for o in outcomes if isinstance(o, str)]
    refusals = [o for o in outcomes if isinstance(o, deregister.AlreadyDeregistered)]
    assert len(references) == 1, outcomes
    assert len(refusals) == declarants - 1, outcomes
    with db.session_scope(engine, write=False) as session:
        (record,) = session.exec(
            select(Deregistration).where(Deregistration.permit_id == permit_of(session, "李娜").id)
        ).all()
        case = session.get(Case, record.case_id)
        assert case.reference == references[0]
        assert all(refusal.deregistration.id == record.id for refusal in refusals)
        cases = session.exec(
            select(func.count()).select_from(Case).where(Case.applicant_id == li_na.id)
        ).one()
        assert cases == 1
        assert len(sms_to(session, "李娜")) == 1


def test_sms_outbox_file_is_not_written_before_delivery(dbsession, clock, outbox):
    # Messages wait in the outbox table until the change commits and is delivered (SPEC 5).
    declare(dbsession, clock, declaration(dbsession, "陈军", "李娜", "landlord", clock.today))
    assert not Path(outbox.path).exists() or outbox.messages("13800000002") == []


# --- The relation alone, for the wizard's applicant step ------------------------------------


def test_relation_check_asks_only_who_may_declare_for_whom(dbsession, clock):
    # Reason and leave date are not known yet at the applicant step, so they are not checked.
    tomorrow = clock.today + timedelta(days=1)
    decl = declaration(
        dbsession, "陈军", "李娜", "landlord", clock.today, reason="other", leave_date=tomorrow
    )
    assert (
        deregister.check_relation(dbsession, decl, decl.actor_id).id
        == permit_of(dbsession, "李娜").id
    )
    stranger = dataclasses.replace(decl, actor_id=person(dbsession, "赵强").id)
    with pytest.raises(deregister.NotRecordedLandlord):
        deregister.check_relation(dbsession, stranger, stranger.actor_id)


def test_relation_check_leaves_the_deregistered_status_to_authorise(dbsession, clock):
    decl = declaration(dbsession, "刘洋", "刘洋", "self", clock.today)
    assert (
        deregister.check_relation(dbsession, decl, decl.actor_id).id
        == permit_of(dbsession, "刘洋").id
    )
    with pytest.raises(deregister.AlreadyDeregistered):
        authorise(dbsession, clock, decl)
