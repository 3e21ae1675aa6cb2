"""The deregistration wizard (注销, SPEC 4.3): role, declarant, applicant, consent, reason,
check. The same engine as endorsement; only the steps and their checks differ."""

from __future__ import annotations

from datetime import date
from typing import Any

from epermit import forms, policy
from epermit import wizard as engine
from epermit.models import Address, Case, Permit, Person
from epermit.services import deregister as service
from epermit.services import permits
from epermit.vocabulary import ORGANISATION_ROLES, CaseKind, DeclarantRole, LinkBasis, Reason
from epermit.wizards import common

ACTION = "注销"


def role_of(answers: engine.Answers) -> DeclarantRole | None:
    role = answers.get("role", {}).get("declarant_role")
    return DeclarantRole(role) if role else None


def for_someone_else(answers: engine.Answers) -> bool:
    return role_of(answers) not in (None, DeclarantRole.SELF)


def consent_applies(answers: engine.Answers) -> bool:
    return role_of(answers) == DeclarantRole.FAMILY and common.needs_consent(answers)


def holder_id(ctx: engine.StepContext) -> int | None:
    role = role_of(ctx.answers)
    if role is None:
        return None
    return ctx.actor_id if role == DeclarantRole.SELF else common.applicant_of(ctx.answers)


def uscc_of(answers: engine.Answers) -> str | None:
    return answers.get("declarant", {}).get("org_uscc")


def declaration(ctx: engine.StepContext, holder: int) -> service.Declaration:
    reason = ctx.answers.get("reason", {})
    role = role_of(ctx.answers)
    assert role is not None
    return service.Declaration(
        role=role,
        applicant_id=holder,
        reason=Reason(reason.get("reason", Reason.OTHER)),
        reason_detail=reason.get("reason_detail"),
        leave_date=date.fromisoformat(reason["leave_date"]) if reason else ctx.today,
        organisation_uscc=uscc_of(ctx.answers),
        consented=common.consented(ctx.answers),
    )


def prefill_role(ctx: engine.StepContext) -> dict[str, Any]:
    return {"declarant_role": DeclarantRole.FAMILY.value} if common.switched_member(ctx) else {}


# --- declarant ------------------------------------------------------------------------------


class DeclarantForm(forms.DeclarantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        self.keep_fields_for(role_of(ctx.answers) or DeclarantRole.SELF)


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
    assert role is not None
    if role not in ORGANISATION_ROLES:
        try:
            service.check_declarant_person(
                ctx.session, ctx.actor_id, form.declarant_name.data, form.declarant_id_number.data
            )
        except policy.DeclarantMismatch:
            form.refuse("declarant_id_number", "not_account")
            return False
        return True
    ok = True
    if form.contact_name.data != ctx.actor.name:
        form.refuse("contact_name", "not_account")
        ok = False
    try:
        organisation = policy.operated_organisation(
            ctx.session, ctx.actor_id, role, form.org_uscc.data
        )
    except policy.UnknownOrganisation:
        form.refuse("org_uscc", f"unknown_{role.value}")
        return False
    except policy.NotOperator:
        form.refuse("org_uscc", "not_operator")
        return False
    if form.org_name.data != organisation.name:
        form.refuse("org_name", "not_registered_name")
        ok = False
    return ok


# --- applicant ------------------------------------------------------------------------------


class ApplicantForm(forms.DeregisterApplicantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        # Only a family member picks from the family list; others name the holder.
        family = role_of(ctx.answers) == DeclarantRole.FAMILY
        self.set_members(common.family_choices(ctx) if family else [])


def prefill_applicant(ctx: engine.StepContext) -> dict[str, Any]:
    family = role_of(ctx.answers) == DeclarantRole.FAMILY
    member = common.switched_member(ctx) if family else None
    return {"member": member} if member else {}


def not_registered_with_you(role: DeclarantRole) -> str:
    """The one refusal a landlord or organisation gets for anyone not registered with them."""
    return "not_tenant" if role == DeclarantRole.LANDLORD else f"not_{role.value}_member"


def validate_applicant(form: Any, ctx: engine.StepContext) -> bool:
    role = role_of(ctx.answers)
    assert role is not None
    if role == DeclarantRole.FAMILY:
        # The family tie, or consent by SMS, is settled on the next step.
        return common.validate_applicant(form, ctx, consent_possible=True)
    # A declarant may only ask about the people registered with them: whether the person
    # exists at all gets the same answer as one who lives or works elsewhere (no oracle).
    if not form.picks_member and (
        permits.current_holder(
            ctx.session, form.applicant_name.data, form.applicant_id_number.data
        )
        is None
    ):
        form.refuse("applicant_id_number", not_registered_with_you(role))
        return False
    if not common.validate_applicant(form, ctx, consent_possible=False):
        return False
    person: Person = form.resolved_applicant
    assert person.id is not None
    try:
        service.check_relation(ctx.session, declaration(ctx, person.id), ctx.actor_id)
    except policy.NotAllowed:
        form.refuse("applicant_id_number", not_registered_with_you(role))
        return False
    return True


def store_applicant(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    if role_of(ctx.answers) == DeclarantRole.FAMILY:
        return common.store_applicant(form, ctx, action=ACTION)
    return {"applicant_id": form.resolved_applicant.id, "family": None}


# --- reason ---------------------------------------------------------------------------------


def validate_reason(form: Any, ctx: engine.StepContext) -> bool:
    holder = holder_id(ctx)
    permit = permits.current_permit(ctx.session, holder) if holder is not None else None
    if permit is not None and form.leave_date.data < permit.issue_date:
        form.refuse_before_issue(permit.issue_date)
        return False
    return True


# --- the journey as a whole -----------------------------------------------------------------


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    holder = holder_id(ctx)
    # Only a family member's applicant can be waiting to consent: other roles store no tie.
    if holder is None or common.consent_pending(ctx.answers):
        return None
    step = "role" if role_of(ctx.answers) == DeclarantRole.SELF else common.APPLICANT
    permit = permits.current_permit(ctx.session, holder)
    if permit is None or permit.id is None:
        return engine.Block("no_permit", step)
    if role_of(ctx.answers) == DeclarantRole.FAMILY and (
        policy.link_basis(ctx.session, ctx.actor_id, holder) is LinkBasis.DIRECT
    ):
        return direct_link_block(ctx, permit)
    existing = service.deregistration_of(ctx.session, permit.id)
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


def direct_link_block(ctx: engine.StepContext, permit: Permit) -> engine.Block:
    """A member added by name and ID number alone cannot be deregistered online (SPEC 2.9):
    the stop page names the counter of the holder's district."""
    address = ctx.session.get(Address, permit.address_id)
    return engine.Block(
        "direct_link",
        common.APPLICANT,
        {"district": address.district if address else "", "authority": permit.issuing_authority},
    )


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
        return service.declare(ctx.session, declaration(ctx, holder), ctx.acting)
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
    except policy.DirectLinkCannotDeregister as error:
        permit = permits.current_permit(ctx.session, holder)
        assert permit is not None
        raise engine.Refused(direct_link_block(ctx, permit)) from error
    except (service.DeregistrationRefused, policy.NotAllowed) as error:
        # The steps checked all of this; it changed meanwhile (a link removed, say).
        raise engine.Refused(engine.Block("not_allowed", "role")) from error


WIZARD = engine.Wizard(
    name="deregister",
    title="注销居住证",
    case_kind=CaseKind.DEREGISTER,
    action=ACTION,
    agent_title="申报人",
    outcomes={"deregistered": engine.Outcome("注销", "已注销")},
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
        common.applicant_step(
            ApplicantForm,
            applies=for_someone_else,
            # The leave date was checked against this holder's 签发日期.
            invalidates=("consent", "reason"),
            validate=validate_applicant,
            store=store_applicant,
            prefill=prefill_applicant,
        ),
        common.consent_step(forms.ConsentForm, applies=consent_applies, action=ACTION),
        engine.Step("reason", forms.ReasonForm, validate=validate_reason),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
    outlook=outlook,
)
