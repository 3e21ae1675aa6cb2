"""The endorsement wizard (签注, SPEC 4.2): who, applicant, consent, residence, check."""

from __future__ import annotations

from typing import Any

from epermit import forms, identity, rules
from epermit import wizard as engine
from epermit.models import Address, Case, Person
from epermit.services import endorse as service
from epermit.wizards import common

SERVICE_WORDS = "签注"


def for_other(answers: engine.Answers) -> bool:
    return answers.get("who", {}).get("for_whom") == "other"


def holder_id(ctx: engine.StepContext) -> int | None:
    who = ctx.answers.get("who")
    if who is None:
        return None
    if who.get("for_whom") == "self":
        return ctx.actor.id
    return common.applicant_of(ctx.answers)


def prefill_who(ctx: engine.StepContext) -> dict[str, Any]:
    return {"for_whom": "other"} if ctx.answers.get("_defaults", {}).get("member") else {}


def prefill_applicant(ctx: engine.StepContext) -> dict[str, Any]:
    actor = ctx.actor
    member = ctx.answers.get("_defaults", {}).get("member")
    return {
        "agent_name": actor.name,
        "agent_id_number": actor.id_number,
        "agent_phone": actor.phone,
        "member": member,
        # The family list already says what the member is to the agent.
        "relationship": common.relationship_to(ctx, int(member)) if member else None,
    }


def validate_applicant(form: Any, ctx: engine.StepContext) -> bool:
    # The agent is the signed-in person: nobody can borrow another's identity to act.
    ok = True
    if form.agent_name.data != ctx.actor.name:
        form.agent_name.errors.append("代办人姓名须与登录账号的姓名一致")
        ok = False
    if form.agent_id_number.data != ctx.actor.id_number:
        form.agent_id_number.errors.append("代办人公民身份号码须与登录账号的公民身份号码一致")
        ok = False
    return common.validate_applicant(form, ctx, consent_possible=True) and ok


def store_applicant(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    return common.store_applicant(form, ctx, service_words=SERVICE_WORDS)


def assessment(ctx: engine.StepContext, holder: int) -> service.Assessment:
    """The holder's permit and what endorsing it would do, worked out once per request:
    `blocked` and `outlook` both need it."""
    key = f"assessment:{holder}"
    if key not in ctx.memo:
        try:
            ctx.memo[key] = service.assess(ctx.session, holder, ctx.today)
        except (service.EndorsementError, rules.EndorsementRefused) as refusal:
            ctx.memo[key] = refusal
    result = ctx.memo[key]
    if isinstance(result, Exception):
        raise result
    return result


def consent_pending(answers: engine.Answers) -> bool:
    """A non-member's permit stays private until they have agreed to the agent acting."""
    return common.needs_consent(answers) and not answers.get(common.CONSENT, {}).get("consented")


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    holder = holder_id(ctx)
    if holder is None or consent_pending(ctx.answers):
        return None
    step = "applicant" if for_other(ctx.answers) else "who"
    earlier = service.endorsed_since(ctx.session, holder, ctx.draft.created_at)
    if earlier is not None:
        # Endorsed meanwhile through another draft or by another agent: say so, with its
        # reference, rather than "the window is not open".
        return engine.Block("already_endorsed", step, {"case": earlier})
    try:
        assessment(ctx, holder)
    except service.NoPermit:
        return engine.Block("no_permit", step)
    except rules.WindowNotOpen as early:
        return engine.Block("not_yet", step, {"opens": early.opens})
    except rules.PermitDeregistered:
        return engine.Block("deregistered", step)
    if ctx.answers.get("residence", {}).get("address_unchanged") == "no":
        return engine.Block("address_changed", "residence")
    return None


def outlook(ctx: engine.StepContext) -> dict[str, Any]:
    """What the endorsement would do, shown before the holder confirms (SPEC 2.5)."""
    holder = holder_id(ctx)
    if holder is None:
        return {}
    person = ctx.session.get(Person, holder)
    if consent_pending(ctx.answers):
        return {"holder": person}
    try:
        assessed = assessment(ctx, holder)
    except (service.EndorsementError, rules.EndorsementRefused):
        return {"holder": person}
    address = ctx.session.get(Address, assessed.permit.address_id)
    return {
        "holder": person,
        "permit": assessed.permit,
        "permit_address": address.line if address else "",
        "outcome": assessed.outcome,
    }


def submit(ctx: engine.StepContext) -> Case:
    holder = holder_id(ctx)
    assert holder is not None
    block = blocked(ctx)
    if block is not None:
        raise engine.Refused(block)
    agent = None
    if for_other(ctx.answers):
        applicant = ctx.answers["applicant"]
        agent = {
            "name": applicant["agent_name"],
            "id_number": applicant["agent_id_number"],
            "phone": applicant["agent_phone"],
            "relationship": applicant["relationship"],
        }
    try:
        return service.endorse(
            ctx.session,
            actor_id=ctx.actor.id,  # type: ignore[arg-type]
            holder_id=holder,
            consented=bool(ctx.answers.get(common.CONSENT, {}).get("consented")),
            agent=agent,
            today=ctx.today,
            now=ctx.now,
            client_address=ctx.client_address,
        )
    except service.AlreadyEndorsed as done:
        raise engine.Refused(engine.Block("already_endorsed", "who", {"case": done.case})) from done
    except service.NotAllowed as error:
        raise engine.Refused(engine.Block("not_allowed", "applicant")) from error
    except rules.WindowNotOpen as early:
        raise engine.Refused(engine.Block("not_yet", "who", {"opens": early.opens})) from early
    except (rules.PermitDeregistered, service.NoPermit) as error:
        raise engine.Refused(engine.Block("deregistered", "who")) from error


def summary(ctx: engine.StepContext) -> list[engine.Row]:
    answers = ctx.answers
    rows = [
        engine.Row(
            "为谁办理",
            "为本人办理" if answers["who"]["for_whom"] == "self" else "为他人办理",
            "who",
        )
    ]
    if for_other(answers):
        applicant = answers["applicant"]
        person = ctx.session.get(Person, applicant["applicant_id"])
        assert person is not None
        rows += [
            engine.Row(
                "代办人",
                f"{applicant['agent_name']} {identity.mask_id_number(applicant['agent_id_number'])}"
                f" {applicant['agent_phone']}",
                "applicant",
            ),
            engine.Row(
                "申请人",
                f"{person.name} {identity.mask_id_number(person.id_number)}"
                f"(您的{forms.RELATIONSHIP_WORDS[applicant['relationship']]})",
                "applicant",
            ),
        ]
    if common.CONSENT in answers:
        rows.append(engine.Row("申请人同意", "已通过短信验证码确认", "applicant"))
    rows.append(
        engine.Row(
            "仍住在登记的居住地址",
            "是" if answers["residence"]["address_unchanged"] == "yes" else "否",
            "residence",
        )
    )
    return rows


class ApplicantForm(forms.EndorseApplicantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        self.set_members(common.family_choices(ctx))


WIZARD = engine.Wizard(
    name="endorse",
    steps=(
        engine.Step(
            "who",
            forms.WhoForm,
            # Whether the applicant still lives at the address is asked of one person.
            invalidates=("applicant", "consent", "residence"),
            prefill=prefill_who,
        ),
        engine.Step(
            "applicant",
            ApplicantForm,
            applies=for_other,
            invalidates=("consent", "residence"),
            validate=validate_applicant,
            store=store_applicant,
            prefill=prefill_applicant,
            limit=common.LOOKUP_LIMIT,
        ),
        engine.Step(
            "consent",
            forms.ConsentForm,
            applies=common.needs_consent,
            validate=common.validate_consent,
            store=common.store_consent,
            resend=lambda ctx: common.resend_consent(ctx, SERVICE_WORDS),
            limit=common.CONSENT_LIMIT,
        ),
        engine.Step("residence", forms.ResidenceForm),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
    summary=summary,
    outlook=outlook,
)
