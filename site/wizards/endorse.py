"""The endorsement wizard (签注, SPEC 4.2): who, applicant, consent, residence, check."""

from __future__ import annotations

from typing import Any

from epermit import forms, policy, rules
from epermit import wizard as engine
from epermit.models import Case, Person
from epermit.services import endorse as service
from epermit.vocabulary import CaseKind
from epermit.wizards import common

ACTION = "签注"


validate_applicant = common.validate_agent_and_applicant


def store_applicant(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    return common.store_applicant(form, ctx, action=ACTION)


def _look(ctx: engine.StepContext, holder: int) -> None:
    """The holder's permit, what endorsing it would do and any endorsement made since this
    draft was started, worked out once per request and in one statement: `blocked`,
    `outlook` and a submission all need them."""
    key = f"assessment:{holder}"
    if key not in ctx.memo:
        result, earlier = service.assess_since(
            ctx.session, holder, ctx.today, ctx.draft.created_at
        )
        ctx.memo[key] = result
        ctx.memo[f"endorsed_since:{holder}"] = earlier


def assessment(ctx: engine.StepContext, holder: int) -> service.Assessment:
    """The holder's permit and what endorsing it would do, or the refusal raised."""
    _look(ctx, holder)
    result = ctx.memo[f"assessment:{holder}"]
    if isinstance(result, Exception):
        raise result
    return result


def endorsed_since_started(ctx: engine.StepContext, holder: int) -> Case | None:
    """An endorsement of the holder's permit made since this draft was started."""
    _look(ctx, holder)
    return ctx.memo[f"endorsed_since:{holder}"]


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    holder = common.who_holder(ctx)
    if holder is None or common.consent_pending(ctx.answers):
        return None
    step = common.APPLICANT if common.for_other(ctx.answers) else common.WHO
    earlier = endorsed_since_started(ctx, holder)
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
    holder = common.who_holder(ctx)
    if holder is None:
        return {}
    person = ctx.session.get(Person, holder)
    if common.consent_pending(ctx.answers):
        return {"holder": person}
    try:
        assessed = assessment(ctx, holder)
    except (service.EndorsementError, rules.EndorsementRefused):
        return {"holder": person}
    return {
        "holder": person,
        "permit": assessed.permit,
        "permit_address": assessed.address.line if assessed.address else "",
        "outcome": assessed.outcome,
    }


def submit(ctx: engine.StepContext) -> Case:
    holder = common.who_holder(ctx)
    assert holder is not None
    block = blocked(ctx)
    if block is not None:
        raise engine.Refused(block)
    agent = None
    if common.for_other(ctx.answers):
        applicant = ctx.answers[common.APPLICANT]
        agent = {
            "name": applicant["agent_name"],
            "id_number": applicant["agent_id_number"],
            "phone": applicant["agent_phone"],
            "relationship": applicant["relationship"],
        }
    try:
        return service.endorse(
            ctx.session,
            ctx.acting,
            holder_id=holder,
            consented=common.consented(ctx.answers),
            agent=agent,
            # `blocked` above assessed the holder in this transaction.
            assessment=assessment(ctx, holder),
        )
    except service.AlreadyEndorsed as done:
        raise engine.Refused(engine.Block("already_endorsed", "who", {"case": done.case})) from done
    except policy.NotAllowed as error:
        raise engine.Refused(engine.Block("not_allowed", common.APPLICANT)) from error
    except rules.WindowNotOpen as early:
        raise engine.Refused(engine.Block("not_yet", "who", {"opens": early.opens})) from early
    except (rules.PermitDeregistered, service.NoPermit) as error:
        raise engine.Refused(engine.Block("deregistered", "who")) from error


class ApplicantForm(forms.EndorseApplicantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        self.set_members(common.family_choices(ctx))


WIZARD = engine.Wizard(
    name="endorse",
    title="居住证签注",
    case_kind=CaseKind.ENDORSE,
    action=ACTION,
    outcomes={
        "endorsed": engine.Outcome("签注", "已签注"),
        "late_endorsed": engine.Outcome("补办签注", "已补办签注"),
    },
    steps=(
        # Whether the applicant still lives at the address is asked of one person.
        common.who_step(forms.WhoForm, invalidates=("applicant", "consent", "residence")),
        common.applicant_step(
            ApplicantForm,
            applies=common.for_other,
            invalidates=("consent", "residence"),
            validate=validate_applicant,
            store=store_applicant,
            prefill=common.prefill_agent,
        ),
        common.consent_step(forms.ConsentForm, applies=common.needs_consent, action=ACTION),
        engine.Step("residence", forms.ResidenceForm),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
    outlook=outlook,
)
