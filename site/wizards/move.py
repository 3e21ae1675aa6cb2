"""The change-of-address wizard (居住变更登记, SPEC 9.2): who, applicant, consent, address,
moved_on, housing, check. The shared steps are endorsement's; the rest searches the address
register and checks the move against the permit (services.move)."""

from __future__ import annotations

from datetime import date
from typing import Any

from epermit import forms, policy, rules
from epermit import wizard as engine
from epermit.models import Address, Case, Person
from epermit.services import addresses, move, permits
from epermit.vocabulary import DISTRICTS, CaseKind, Housing
from epermit.wizards import common

ACTION = "居住变更登记"
ADDRESS = "address"


validate_applicant = common.validate_agent_and_applicant


def store_applicant(form: Any, ctx: engine.StepContext) -> dict[str, Any]:
    return common.store_applicant(form, ctx, action=ACTION)


class ApplicantForm(forms.MoveApplicantForm):
    def setup(self, ctx: engine.StepContext) -> None:
        self.set_members(common.family_choices(ctx))


def holder_permit(ctx: engine.StepContext) -> Any:
    holder = common.who_holder(ctx)
    return permits.current_permit(ctx.session, holder) if holder is not None else None


# --- address --------------------------------------------------------------------------------


class AddressForm(forms.MoveAddressForm):
    def setup(self, ctx: engine.StepContext) -> None:
        district = ctx.query.get("district", "")
        q = ctx.query.get("q", "")
        self.district.data = district if district in DISTRICTS else ""
        self.q.data = q
        if "q" in ctx.query:
            if not addresses.searchable(q):
                self.q.errors = [self.query_too_short]
                return
            self.show_results(
                addresses.search(ctx.session, q=q, district=self.district.data or None)
            )
            return
        chosen = (ctx.answers.get(ADDRESS) or {}).get("address_id")
        if chosen and chosen != forms.NOT_LISTED:
            found = ctx.session.get(Address, int(chosen))
            if found is not None:
                self.show_results([found])


def validate_address(form: Any, ctx: engine.StepContext) -> bool:
    if form.address_id.data == forms.NOT_LISTED:
        return True
    permit = holder_permit(ctx)
    if permit is None:
        return True  # blocked() says why
    try:
        move.check_address(ctx.session, permit, int(form.address_id.data))
    except move.NotInRegister:
        form.refuse("address_id", "not_in_register")
        return False
    except move.SameAddress:
        form.refuse("address_id", "same_address")
        return False
    return True


def address_rows(ctx: engine.StepContext, form: Any, data: dict[str, Any]) -> engine.Pairs:
    chosen = data.get("address_id")
    found = (
        ctx.session.get(Address, int(chosen)) if chosen not in (None, forms.NOT_LISTED) else None
    )
    return [("新的居住地址", found.line if found else "")]


def chosen_address_id(answers: engine.Answers) -> int | None:
    chosen = (answers.get(ADDRESS) or {}).get("address_id")
    return int(chosen) if chosen and chosen != forms.NOT_LISTED else None


# --- moved_on and housing -------------------------------------------------------------------


def validate_moved_on(form: Any, ctx: engine.StepContext) -> bool:
    permit = holder_permit(ctx)
    if permit is not None and form.moved_on.data < move.registered_since(permit):
        form.refuse_before_registration(move.registered_since(permit))
        return False
    return True


def validate_housing(form: Any, ctx: engine.StepContext) -> bool:
    holder = common.who_holder(ctx)
    address_id = chosen_address_id(ctx.answers)
    address = ctx.session.get(Address, address_id) if address_id is not None else None
    if address is None or holder is None:
        return True
    try:
        move.check_housing(address, holder, form.housing.data)
    except move.NotOwner:
        form.refuse("housing", "not_owner")
        return False
    return True


# --- the journey as a whole -----------------------------------------------------------------


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    holder = common.who_holder(ctx)
    if holder is None or common.consent_pending(ctx.answers):
        return None
    step = common.APPLICANT if common.for_other(ctx.answers) else common.WHO
    try:
        permit = move.live_permit(ctx.session, holder)
    except move.NoPermit:
        return engine.Block("no_permit", step)
    except move.PermitDeregistered:
        return engine.Block("deregistered", step)
    pending = move.pending_view(ctx.session, permit.id)  # type: ignore[arg-type]
    if pending is not None:
        return engine.Block("pending", step, {"pending": pending})
    if (ctx.answers.get(ADDRESS) or {}).get("address_id") == forms.NOT_LISTED:
        return engine.Block("not_listed", ADDRESS)
    return None


def outlook(ctx: engine.StepContext) -> dict[str, Any]:
    holder = common.who_holder(ctx)
    if holder is None:
        return {}
    person = ctx.session.get(Person, holder)
    if common.consent_pending(ctx.answers):
        return {"holder": person}
    permit = holder_permit(ctx)
    facts: dict[str, Any] = {"holder": person, "permit": permit}
    if permit is not None:
        current = ctx.session.get(Address, permit.address_id)
        facts["permit_address"] = current.line if current else ""
        facts["registered_since"] = move.registered_since(permit)
    moved_on = (ctx.answers.get("moved_on") or {}).get("moved_on")
    if moved_on:
        day = date.fromisoformat(moved_on)
        facts["report_deadline"] = rules.move_report_deadline(day)
        facts["reported_late"] = rules.move_reported_late(day, ctx.today)
    address_id = chosen_address_id(ctx.answers)
    if address_id is not None:
        address = ctx.session.get(Address, address_id)
        facts["new_address"] = address
        facts["applies_at_once"] = address is not None and policy.answers_for_address(
            ctx.session, holder, address
        )
    return facts


def submit(ctx: engine.StepContext) -> Case:
    holder = common.who_holder(ctx)
    address_id = chosen_address_id(ctx.answers)
    assert holder is not None and address_id is not None
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
    request = move.MoveRequest(
        holder_id=holder,
        to_address_id=address_id,
        moved_on=date.fromisoformat(ctx.answers["moved_on"]["moved_on"]),
        housing=Housing(ctx.answers["housing"]["housing"]),
        consented=common.consented(ctx.answers),
        agent=agent,
    )
    try:
        return move.request(ctx.session, request, ctx.acting)
    except move.PendingExists as error:
        pending = move.pending_view(ctx.session, error.change.permit_id) if error.change else None
        raise engine.Refused(engine.Block("pending", "who", {"pending": pending})) from error
    except policy.NotAllowed as error:
        raise engine.Refused(engine.Block("not_allowed", common.APPLICANT)) from error
    except (move.NoPermit, move.PermitDeregistered) as error:
        raise engine.Refused(engine.Block("deregistered", "who")) from error
    except (move.NotInRegister, move.SameAddress, move.NotOwner) as error:
        raise engine.Refused(engine.Block("changed", ADDRESS)) from error
    except (move.MovedOnInFuture, move.MovedOnBeforeRegistration) as error:
        raise engine.Refused(engine.Block("changed", "moved_on")) from error


WIZARD = engine.Wizard(
    name="move",
    title="居住变更登记",
    case_kind=CaseKind.MOVE,
    action=ACTION,
    outcomes={
        move.PENDING: engine.Outcome("居住变更登记", "待房屋登记人确认"),
        move.MOVED: engine.Outcome("居住变更登记", "已变更居住地址"),
        "refused": engine.Outcome("居住变更登记", "房屋登记人已拒绝"),
        "lapsed": engine.Outcome("居住变更登记", "逾期未确认，已失效"),
        "withdrawn": engine.Outcome("居住变更登记", "已撤回"),
        "cancelled": engine.Outcome("居住变更登记", "因居住证注销已取消"),
    },
    steps=(
        # The new address, the date and the housing are the applicant's: a new applicant
        # answers them afresh.
        common.who_step(
            forms.WhoForm, invalidates=("applicant", "consent", ADDRESS, "moved_on", "housing")
        ),
        common.applicant_step(
            ApplicantForm,
            applies=common.for_other,
            invalidates=("consent", ADDRESS, "moved_on", "housing"),
            validate=validate_applicant,
            store=store_applicant,
            prefill=common.prefill_agent,
        ),
        common.consent_step(forms.ConsentForm, applies=common.needs_consent, action=ACTION),
        engine.Step(
            ADDRESS,
            AddressForm,
            # "Owned" was checked against this address's owner.
            invalidates=("housing",),
            validate=validate_address,
            rows=address_rows,
        ),
        engine.Step("moved_on", forms.MovedOnForm, validate=validate_moved_on),
        engine.Step("housing", forms.HousingForm, validate=validate_housing),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
    outlook=outlook,
)
