"""Steps every wizard may share, declared once: who the application is for (`who`), the
applicant (`applicant`) and the applicant's consent by SMS code (`consent`).

A wizard takes them with `who_step(...)`, `applicant_step(...)` and `consent_step(...)`,
adding only what is its own (which answers they invalidate, extra checks). The words shown
live in the forms (epermit.forms); the lookups in services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from epermit import budgets, policy
from epermit import wizard as engine
from epermit.models import Person
from epermit.services import codes, family, permits, sms

CONSENT = "consent"
APPLICANT = "applicant"
WHO = "who"
# Guessing a consent code lets a stranger act for the applicant: tries are counted per person
# and address across every draft and the family page, besides the 5 each code allows.
CONSENT_LIMIT = engine.Limit(budgets.CONSENT_TRIES, "consent_code")
# The applicant step looks a person up by name and ID number (and may text them a code).
LOOKUP_LIMIT = engine.Limit(budgets.LOOKUP, "applicant_id_number")


# --- answers the shared steps leave ---------------------------------------------------------


def applicant_of(answers: engine.Answers) -> int | None:
    applicant = answers.get(APPLICANT)
    return applicant.get("applicant_id") if applicant else None


def needs_consent(answers: engine.Answers) -> bool:
    """The applicant is not on the agent's family list, so must agree by SMS code."""
    applicant = answers.get(APPLICANT)
    return applicant is not None and applicant.get("family") is False


def consented(answers: engine.Answers) -> bool:
    return bool(answers.get(CONSENT, {}).get("consented"))


def consent_pending(answers: engine.Answers) -> bool:
    """A non-member's permit stays private until they have agreed to the agent acting."""
    return needs_consent(answers) and not consented(answers)


def switched_member(ctx: engine.StepContext) -> str | None:
    """The family member switched to (切换) before starting: the one acted for by default."""
    return engine.defaults(ctx.answers).get("member")


# --- who ------------------------------------------------------------------------------------


def for_other(answers: engine.Answers) -> bool:
    return answers.get(WHO, {}).get("for_whom") == "other"


def who_holder(ctx: engine.StepContext) -> int | None:
    """Whose permit it is, once `who` (and for others `applicant`) are answered."""
    who = ctx.answers.get(WHO)
    if who is None:
        return None
    return ctx.actor_id if who.get("for_whom") == "self" else applicant_of(ctx.answers)


def who_step(form: type, *, invalidates: tuple[str, ...]) -> engine.Step:
    def prefill(ctx: engine.StepContext) -> dict[str, Any]:
        return {"for_whom": "other"} if switched_member(ctx) else {}

    return engine.Step(WHO, form, invalidates=invalidates, prefill=prefill)


# --- applicant ------------------------------------------------------------------------------


def family_choices(ctx: engine.StepContext) -> list[tuple[str, str, str]]:
    """(person id, name, relationship) of each member of the actor's family list."""
    return [
        (str(person.id), person.name, relationship)
        for person, relationship in family.links_of(ctx.session, ctx.actor_id)
    ]


def prefill_agent(ctx: engine.StepContext) -> dict[str, Any]:
    """The agent is the signed-in person; a member switched to is the applicant, with the
    relation the family list already records."""
    actor = ctx.actor
    member = switched_member(ctx)
    relationship = (
        family.relationship_of(ctx.session, ctx.actor_id, int(member)) if member else None
    )
    return {
        "agent_name": actor.name,
        "agent_id_number": actor.id_number,
        "agent_phone": actor.phone,
        "member": member,
        "relationship": relationship,
    }


def find_applicant(form: Any, ctx: engine.StepContext) -> Person | None:
    """The person the form names, with a field error when there is none to serve."""
    if form.picks_member:
        person = ctx.session.get(Person, int(form.member.data))
        assert person is not None  # only family members are offered as choices
        return person
    person = permits.current_holder(
        ctx.session, form.applicant_name.data, form.applicant_id_number.data
    )
    if person is None:
        form.refuse("applicant_id_number", "no_such_holder")
    return person


def validate_agent_and_applicant(form: Any, ctx: engine.StepContext) -> bool:
    """The agent is the signed-in person (nobody can borrow another's identity to act), and
    the applicant passes validate_applicant with consent possible: endorsement and move."""
    ok = True
    if form.agent_name.data != ctx.actor.name:
        form.refuse("agent_name", "not_account")
        ok = False
    if form.agent_id_number.data != ctx.actor.id_number:
        form.refuse("agent_id_number", "not_account")
        ok = False
    return validate_applicant(form, ctx, consent_possible=True) and ok


def validate_applicant(form: Any, ctx: engine.StepContext, *, consent_possible: bool) -> bool:
    """The applicant exists, is not the actor, and, when not on the family list, can be asked
    to consent (has a phone that is not over its cap of codes)."""
    person = find_applicant(form, ctx)
    if person is None or person.id is None:
        return False
    field = "member" if form.picks_member else "applicant_id_number"
    if person.id == ctx.actor_id:
        form.refuse(field, "is_self")
        return False
    is_family = policy.is_family_member(ctx.session, ctx.actor_id, person.id)
    if not is_family and consent_possible and not person.phone:
        form.refuse(field, "no_phone_for_consent")
        return False
    first_time = applicant_of(ctx.answers) != person.id
    if (
        not is_family
        and consent_possible
        and first_time
        and person.phone
        and codes.recipient_capped(ctx.session, person.phone, ctx.now, codes.CONSENT_CAP)
    ):
        form.refuse(field, "consent_capped")
        return False
    form.resolved_applicant = person
    return True


def store_applicant(form: Any, ctx: engine.StepContext, *, action: str) -> dict[str, Any]:
    """Record who the applicant is; a non-member is sent a consent code in this transaction."""
    person_id = form.resolved_applicant.id
    is_family = policy.is_family_member(ctx.session, ctx.actor_id, person_id)
    if not is_family and applicant_of(ctx.answers) != person_id:
        send_consent_code(ctx, person_id, action)
    return {"applicant_id": person_id, "family": is_family}


def applicant_rows(ctx: engine.StepContext, form: Any, data: dict[str, Any]) -> engine.Pairs:
    """The applicant as the register has them (the form holds only what was typed)."""
    person = ctx.session.get(Person, data["applicant_id"])
    assert person is not None
    return form.check_rows_for(person)


def applicant_step(
    form: type,
    *,
    applies: Callable[[engine.Answers], bool],
    invalidates: tuple[str, ...],
    validate: Callable[[Any, engine.StepContext], bool],
    store: Callable[[Any, engine.StepContext], dict[str, Any]],
    prefill: Callable[[engine.StepContext], dict[str, Any]],
) -> engine.Step:
    return engine.Step(
        APPLICANT,
        form,
        applies=applies,
        invalidates=invalidates,
        validate=validate,
        store=store,
        prefill=prefill,
        limit=LOOKUP_LIMIT,
        rows=applicant_rows,
    )


# --- consent --------------------------------------------------------------------------------


def consent_subject(ctx: engine.StepContext, person_id: int) -> str:
    return f"{ctx.draft.wizard}:{ctx.draft.id}:{person_id}"


def send_consent_code(ctx: engine.StepContext, person_id: int, action: str) -> str:
    """Text the applicant a consent code; say "sent", or why not ("wait", "capped")."""
    person = ctx.session.get(Person, person_id)
    assert person is not None and person.phone
    ttl = ctx.settings["CODE_TTL_SECONDS"]
    try:
        code = codes.issue(
            ctx.session,
            purpose=CONSENT,
            subject=consent_subject(ctx, person_id),
            phone=person.phone,
            now=ctx.now,
            ttl_seconds=ttl,
            secret=ctx.settings["SECRET_KEY"],
            cap=codes.CONSENT_CAP,
        )
    except codes.ResendTooSoon:
        return "wait"
    except codes.TooManyCodes:
        return "capped"
    sms.queue(
        ctx.session,
        to=person.phone,
        text=sms.consent_text(agent=ctx.actor.name, action=action, code=code, ttl_seconds=ttl),
        code=code,
        now=ctx.now,
    )
    return "sent"


def consent_step(
    form: type, *, applies: Callable[[engine.Answers], bool], action: str
) -> engine.Step:
    """The applicant's code, asked when they are not on the agent's family list."""

    def validate(form: Any, ctx: engine.StepContext) -> bool:
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
            form.refuse_code(error)
            return False
        return True

    def store(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
        # The code itself is never kept: only that the applicant agreed, and when.
        form.consent_code.data = None
        return {"consented": True, "consent_code": None, "at": ctx.now.isoformat()}

    def resend(ctx: engine.StepContext) -> str | None:
        person_id = applicant_of(ctx.answers)
        return send_consent_code(ctx, person_id, action) if person_id is not None else None

    return engine.Step(
        CONSENT,
        form,
        applies=applies,
        validate=validate,
        store=store,
        resend=resend,
        limit=CONSENT_LIMIT,
        change_at=APPLICANT,
    )
