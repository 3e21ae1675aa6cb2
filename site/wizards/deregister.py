"""The deregistration wizard (注销, SPEC 4.3): role, declarant, applicant, consent, reason,
check. The same engine as endorsement; only the steps and their checks differ."""

from __future__ import annotations

from datetime import date
from typing import Any

from epermit import forms, identity
from epermit import wizard as engine
from epermit.models import Case, Person
from epermit.services import deregister as service
from epermit.services import permits
from epermit.wizards import common

SERVICE_WORDS = "注销"
ORG_WORDS = {"employer": "用人单位", "school": "学校", "hotel": "旅馆"}
MEMBER_WORDS = {"employer": "员工", "school": "学生", "hotel": "住客"}


def role_of(answers: engine.Answers) -> str | None:
    return answers.get("role", {}).get("declarant_role")


def for_someone_else(answers: engine.Answers) -> bool:
    return role_of(answers) not in (None, "self")


def consent_applies(answers: engine.Answers) -> bool:
    return role_of(answers) == "family" and common.needs_consent(answers)


def consent_pending(answers: engine.Answers) -> bool:
    return consent_applies(answers) and not answers.get(common.CONSENT, {}).get("consented")


def holder_id(ctx: engine.StepContext) -> int | None:
    role = role_of(ctx.answers)
    if role is None:
        return None
    return ctx.actor.id if role == "self" else common.applicant_of(ctx.answers)


def uscc_of(answers: engine.Answers) -> str | None:
    return answers.get("declarant", {}).get("org_uscc")


def declaration(ctx: engine.StepContext, holder: int) -> service.Declaration:
    reason = ctx.answers.get("reason", {})
    return service.Declaration(
        role=role_of(ctx.answers),  # type: ignore[arg-type]
        actor_id=ctx.actor.id,  # type: ignore[arg-type]
        applicant_id=holder,
        reason=reason.get("reason", "other"),
        reason_detail=reason.get("reason_detail"),
        leave_date=date.fromisoformat(reason["leave_date"]) if reason else ctx.today,
        organisation_uscc=uscc_of(ctx.answers),
        consented=bool(ctx.answers.get(common.CONSENT, {}).get("consented")),
    )


def switched_member(ctx: engine.StepContext) -> str | None:
    """The family member switched to (切换) before starting: the one acted for by default."""
    return ctx.answers.get("_defaults", {}).get("member")


def prefill_role(ctx: engine.StepContext) -> dict[str, Any]:
    return {"declarant_role": "family"} if switched_member(ctx) else {}


# --- declarant ------------------------------------------------------------------------------


class DeclarantForm(forms.DeclarantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        self.keep_fields_for(role_of(ctx.answers) or "self")


def prefill_declarant(ctx: engine.StepContext) -> dict[str, Any]:
    actor = ctx.actor
    return {
        "declarant_name": actor.name,
        "declarant_id_number": actor.id_number,
        "declarant_phone": actor.phone,
        "contact_name": actor.name,
        "contact_phone": actor.phone,
    }


def validate_declarant(form: Any, ctx: engine.StepContext) -> bool:
    # Declared identity must be the signed-in account's: nobody borrows another's role.
    role = role_of(ctx.answers)
    if role not in forms.ORGANISATION_ROLES:
        try:
            service.check_declarant_person(
                ctx.session, ctx.actor.id, form.declarant_name.data, form.declarant_id_number.data
            )
        except service.DeclarantMismatch:
            form.declarant_id_number.errors.append(
                "申报人姓名和公民身份号码须与登录账号一致,不能使用他人的身份申报"
            )
            return False
        return True
    ok = True
    if form.contact_name.data != ctx.actor.name:
        form.contact_name.errors.append("经办人姓名须与登录账号的姓名一致")
        ok = False
    try:
        organisation = service.check_organisation(
            ctx.session,
            ctx.actor.id,
            role,
            form.org_uscc.data,  # type: ignore[arg-type]
        )
    except service.UnknownOrganisation:
        form.org_uscc.errors.append(
            f"未找到以该统一社会信用代码登记的{ORG_WORDS[role]},请核对营业执照后重新输入"  # type: ignore[index]
        )
        return False
    except service.NotOperator:
        form.org_uscc.errors.append("您不是该单位登记的经办人,不能以该单位名义申报注销")
        return False
    if form.org_name.data != organisation.name:
        form.org_name.errors.append("单位名称与该统一社会信用代码登记的名称不一致,请核对")
        ok = False
    return ok


# --- applicant ------------------------------------------------------------------------------


class ApplicantForm(forms.DeregisterApplicantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        # Only a family member picks from the family list; others name the holder.
        members = common.family_choices(ctx) if role_of(ctx.answers) == "family" else []
        self.set_members(members)


def prefill_applicant(ctx: engine.StepContext) -> dict[str, Any]:
    member = switched_member(ctx) if role_of(ctx.answers) == "family" else None
    return {"member": member} if member else {}


def validate_applicant(form: Any, ctx: engine.StepContext) -> bool:
    role = role_of(ctx.answers)
    if not common.validate_applicant(form, ctx, consent_possible=role == "family"):
        return False
    if role == "family":
        return True  # the family tie, or consent by SMS, is settled on the next step
    person: Person = form.resolved_applicant
    field = form.applicant_id_number
    try:
        service.check_relation(ctx.session, declaration(ctx, person.id))  # type: ignore[arg-type]
    except service.NotRecordedLandlord:
        field.errors.append(
            "申请人登记的居住地址不是您的房屋。房东只能为在本人房屋登记居住的人员申报注销"
        )
        return False
    except (service.NotRecordedOrganisation, service.UnknownOrganisation, service.NotOperator):
        field.errors.append(
            f"申请人不是在本单位登记的{MEMBER_WORDS[role]},不能为其申报注销"  # type: ignore[index]
        )
        return False
    return True


def store_applicant(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    if role_of(ctx.answers) == "family":
        return common.store_applicant(form, ctx, service_words=SERVICE_WORDS)
    return {"applicant_id": form.resolved_applicant.id, "family": None}


# --- reason ---------------------------------------------------------------------------------


def validate_reason(form: Any, ctx: engine.StepContext) -> bool:
    holder = holder_id(ctx)
    permit = permits.current_permit(ctx.session, holder) if holder is not None else None
    if permit is not None and form.leave_date.data < permit.issue_date:
        issued = permit.issue_date
        form.leave_date.errors.append(
            f"离开日期不能早于居住证签发日期({issued.year}年{issued.month}月{issued.day}日)"
        )
        return False
    return True


# --- the journey as a whole -----------------------------------------------------------------


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    holder = holder_id(ctx)
    if holder is None or consent_pending(ctx.answers):
        return None
    step = "role" if role_of(ctx.answers) == "self" else "applicant"
    permit = permits.current_permit(ctx.session, holder)
    if permit is None:
        return engine.Block("no_permit", step)
    existing = service.deregistration_of(ctx.session, permit.id)  # type: ignore[arg-type]
    if existing is not None:
        case = ctx.session.get(Case, existing.case_id)
        return engine.Block(
            "already_deregistered",
            step,
            {
                "declared_at": existing.declared_at,
                "leave_date": existing.leave_date,
                "reference": case.reference if case else None,
            },
        )
    return None


def outlook(ctx: engine.StepContext) -> dict[str, Any]:
    holder = holder_id(ctx)
    return {"holder": ctx.session.get(Person, holder) if holder is not None else None}


def submit(ctx: engine.StepContext) -> Case:
    holder = holder_id(ctx)
    assert holder is not None
    block = blocked(ctx)
    if block is not None:
        raise engine.Refused(block)
    try:
        return service.declare(
            ctx.session,
            declaration(ctx, holder),
            today=ctx.today,
            now=ctx.now,
            client_address=ctx.client_address,
        )
    except service.AlreadyDeregistered as error:
        raise engine.Refused(
            engine.Block(
                "already_deregistered",
                "role",
                {
                    "declared_at": error.deregistration.declared_at,
                    "leave_date": error.deregistration.leave_date,
                },
            )
        ) from error
    except service.DeregistrationRefused as error:
        # The steps checked all of this; it changed meanwhile (a link removed, say).
        raise engine.Refused(engine.Block("not_allowed", "role")) from error


def summary(ctx: engine.StepContext) -> list[engine.Row]:
    answers = ctx.answers
    role = role_of(answers)
    roles = dict(forms.DECLARANT_ROLES)
    declarant = answers["declarant"]
    rows = [engine.Row("申报身份", roles[role], "role")]  # type: ignore[index]
    if role in forms.ORGANISATION_ROLES:
        rows.append(
            engine.Row(
                "申报单位",
                f"{declarant['org_name']}({declarant['org_uscc']}),"
                f"经办人{declarant['contact_name']} {declarant['contact_phone']}",
                "declarant",
            )
        )
    else:
        rows.append(
            engine.Row(
                "申报人",
                f"{declarant['declarant_name']} "
                f"{identity.mask_id_number(declarant['declarant_id_number'])} "
                f"{declarant['declarant_phone']}",
                "declarant",
            )
        )
    holder = ctx.session.get(Person, holder_id(ctx))
    assert holder is not None
    rows.append(
        engine.Row(
            "持证人",
            f"{holder.name} {identity.mask_id_number(holder.id_number)}",
            "role" if role == "self" else "applicant",
        )
    )
    if common.CONSENT in answers:
        rows.append(engine.Row("持证人同意", "已通过短信验证码确认", "applicant"))
    reason = answers["reason"]
    words = forms.REASON_WORDS[reason["reason"]]
    if reason.get("reason_detail"):
        words += f":{reason['reason_detail']}"
    leave = date.fromisoformat(reason["leave_date"])
    rows += [
        engine.Row("注销原因", words, "reason"),
        engine.Row("离开日期", f"{leave.year}年{leave.month}月{leave.day}日", "reason"),
    ]
    return rows


WIZARD = engine.Wizard(
    name="deregister",
    steps=(
        engine.Step(
            "role",
            forms.RoleForm,
            invalidates=("declarant", "applicant", "consent", "reason"),
            prefill=prefill_role,
        ),
        engine.Step(
            "declarant",
            DeclarantForm,
            invalidates=("applicant", "consent"),
            validate=validate_declarant,
            prefill=prefill_declarant,
        ),
        engine.Step(
            "applicant",
            ApplicantForm,
            applies=for_someone_else,
            # The leave date was checked against this holder's 签发日期.
            invalidates=("consent", "reason"),
            validate=validate_applicant,
            store=store_applicant,
            prefill=prefill_applicant,
            limit=common.LOOKUP_LIMIT,
        ),
        engine.Step(
            "consent",
            forms.ConsentForm,
            applies=consent_applies,
            validate=common.validate_consent,
            store=common.store_consent,
            resend=lambda ctx: common.resend_consent(ctx, SERVICE_WORDS),
            limit=common.CONSENT_LIMIT,
        ),
        engine.Step("reason", forms.ReasonForm, validate=validate_reason),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
    summary=summary,
    outlook=outlook,
)
