"""Steps both wizards share: choosing the applicant, and the applicant's consent by SMS."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from epermit import extensions, forms
from epermit import wizard as engine
from epermit.models import FamilyLink, Person
from epermit.services import codes, permits, sms

CONSENT = "consent"
# Guessing a consent code lets a stranger act for the applicant: tries are counted per person
# and address across every draft and the family page, besides the 5 each code allows.
CONSENT_LIMIT = engine.Limit(extensions.CONSENT_TRIES, "consent_code")
# The applicant step looks a person up by name and ID number (and may text them a code).
LOOKUP_LIMIT = engine.Limit(extensions.LOOKUP, "applicant_id_number")


def family_choices(ctx: engine.StepContext) -> list[tuple[str, str]]:
    rows = ctx.session.exec(
        select(Person, FamilyLink.relationship)
        .join(FamilyLink, FamilyLink.member_id == Person.id)  # type: ignore[arg-type]
        .where(FamilyLink.person_id == ctx.actor.id)
        .order_by(FamilyLink.id)  # type: ignore[arg-type]
    ).all()
    return [
        (str(person.id), f"{person.name}({forms.RELATIONSHIP_WORDS[relationship]})")
        for person, relationship in rows
    ]


def relationship_to(ctx: engine.StepContext, member_id: int) -> str | None:
    """What the member is to the person acting, as their family list records it."""
    return ctx.session.exec(
        select(FamilyLink.relationship).where(
            FamilyLink.person_id == ctx.actor.id, FamilyLink.member_id == member_id
        )
    ).first()


def applicant_of(answers: engine.Answers) -> int | None:
    applicant = answers.get("applicant")
    return applicant.get("applicant_id") if applicant else None


def find_applicant(form: Any, ctx: engine.StepContext) -> Person | None:
    """The person the form names, with field errors set when there is none to serve."""
    if form.picks_member:
        person = ctx.session.get(Person, int(form.member.data))
        assert person is not None  # only family members are offered as choices
        return person
    person = ctx.session.exec(
        select(Person).where(Person.id_number == form.applicant_id_number.data)
    ).first()
    if (
        person is None
        or person.name != form.applicant_name.data
        or permits.current_permit(ctx.session, person.id) is None  # type: ignore[arg-type]
    ):
        form.applicant_id_number.errors.append(
            "未找到与该姓名和公民身份号码相符的居住证,请核对姓名和公民身份号码后重新输入"
        )
        return None
    return person


def validate_applicant(form: Any, ctx: engine.StepContext, *, consent_possible: bool) -> bool:
    person = find_applicant(form, ctx)
    if person is None:
        return False
    field = form.member if form.picks_member else form.applicant_id_number
    if person.id == ctx.actor.id:
        field.errors.append("这是您本人的信息。为本人办理请返回上一步,选择“为本人办理”")
        return False
    family = permits.is_family_member(ctx.session, ctx.actor.id, person.id)  # type: ignore[arg-type]
    if not family and consent_possible and not person.phone:
        field.errors.append(
            "该申请人没有登记手机号码,无法通过短信确认同意。请先在“家庭成员”中添加该申请人后再办理"
        )
        return False
    first_time = (ctx.answers.get("applicant") or {}).get("applicant_id") != person.id
    if (
        not family
        and consent_possible
        and first_time
        and codes.recipient_capped(ctx.session, person.phone, ctx.now, codes.CONSENT_CAP)  # type: ignore[arg-type]
    ):
        field.errors.append(
            "该申请人近期收到的验证码已达上限,暂时不能再发送。请稍后再试,或请申请人本人办理"
        )
        return False
    form.resolved_applicant = person
    return True


def store_applicant(form: Any, ctx: engine.StepContext, *, service_words: str) -> dict[str, Any]:
    """Record who the applicant is; a non-member is sent a consent code in this transaction."""
    person_id = form.resolved_applicant.id
    family = permits.is_family_member(ctx.session, ctx.actor.id, person_id)  # type: ignore[arg-type]
    stored = {"applicant_id": person_id, "family": family}
    previous = ctx.answers.get("applicant") or {}
    if not family and previous.get("applicant_id") != person_id:
        send_consent_code(ctx, person_id, service_words)
    return stored


def consent_subject(ctx: engine.StepContext, person_id: int) -> str:
    return f"{ctx.draft.wizard}:{ctx.draft.id}:{person_id}"


def send_consent_code(ctx: engine.StepContext, person_id: int, service_words: str) -> str:
    """Text the applicant a consent code; say "sent", or why not ("wait", "capped")."""
    person = ctx.session.get(Person, person_id)
    assert person is not None and person.phone
    try:
        code = codes.issue(
            ctx.session,
            purpose=CONSENT,
            subject=consent_subject(ctx, person_id),
            phone=person.phone,
            now=ctx.now,
            ttl_seconds=ctx.settings["CODE_TTL_SECONDS"],
            secret=ctx.settings["SECRET_KEY"],
            cap=codes.CONSENT_CAP,
        )
    except codes.ResendTooSoon:
        return "wait"
    except codes.TooManyCodes:
        return "capped"
    minutes = max(1, ctx.settings["CODE_TTL_SECONDS"] // 60)
    sms.queue(
        ctx.session,
        to=person.phone,
        text=(
            f"【广东省电子居住证】{ctx.actor.name}申请为您代办居住证{service_words},"
            f"验证码{code},{minutes}分钟内有效。如您同意,请将验证码告诉代办人;如不同意,请忽略。"
        ),
        code=code,
        now=ctx.now,
    )
    return "sent"


def validate_consent(form: Any, ctx: engine.StepContext) -> bool:
    person_id = applicant_of(ctx.answers)
    assert person_id is not None
    try:
        codes.verify(
            ctx.session,
            purpose=CONSENT,
            subject=consent_subject(ctx, person_id),
            code=form.consent_code.data,
            now=ctx.now,
            secret=ctx.settings["SECRET_KEY"],
        )
    except codes.CodeError as error:
        form.consent_code.errors.append(
            forms.code_error(error, resend="重新发送验证码", check_with="向申请人")
        )
        return False
    return True


def store_consent(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    # The code itself is never kept: only that the applicant agreed, and when.
    form.consent_code.data = None
    return {"consented": True, "consent_code": None, "at": ctx.now.isoformat()}


def resend_consent(ctx: engine.StepContext, service_words: str) -> str | None:
    person_id = applicant_of(ctx.answers)
    return send_consent_code(ctx, person_id, service_words) if person_id is not None else None


def needs_consent(answers: engine.Answers) -> bool:
    applicant = answers.get("applicant")
    return bool(applicant) and applicant.get("family") is False  # type: ignore[union-attr]
