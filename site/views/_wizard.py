"""Routes for any wizard (SPEC 4.1): start, each step, check answers, stop and done.

The same code serves the endorsement and the deregistration wizards; what differs between them
is declared in epermit.wizards.*.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from epermit import clock, db
from epermit import wizard as engine
from epermit.extensions import DRAFTS, allowed
from epermit.forms import TOO_OFTEN
from epermit.htmx import render_page
from epermit.models import Draft, Person
from epermit.services import cases
from epermit.views._common import (
    client_address,
    commit_and_deliver,
    current_person,
    dbs,
    login_required,
    viewing_id,
)

SPECIAL = {engine.CHECK, engine.DONE, engine.STOP}


def _form_data(form: Any) -> dict[str, Any]:
    """What a step stores: its fields' normalised values, as JSON."""
    data: dict[str, Any] = {}
    for field in form:
        if field.name == "csrf_token":
            continue
        value = field.data
        data[field.name] = value.isoformat() if isinstance(value, date) else value
    return data


def wizard_blueprint(wizard: engine.Wizard) -> Blueprint:
    bp = Blueprint(wizard.name, __name__)
    name = wizard.name

    def step_url(draft_id: str, step: str, **args: Any) -> str:
        return url_for(f"{name}.step", draft_id=draft_id, step=step, **args)

    def go(draft_id: str, step: str) -> BaseResponse:
        return redirect(step_url(draft_id, step), 303)

    @bp.get(f"/{name}")
    @db.writes_on_get
    @login_required
    def start() -> BaseResponse:
        person = current_person()
        assert person is not None and person.id is not None
        if not allowed(DRAFTS, person.id, client_address()):
            abort(429)
        defaults: dict[str, Any] = {}
        if viewing_id() != person.id:
            # 切换: the person switched to is the default applicant.
            defaults["member"] = str(viewing_id())
        draft = engine.new_draft(dbs(), wizard, person.id, clock.now(), defaults)
        dbs().commit()
        return go(draft.id, wizard.steps[0].name)

    @bp.route(f"/{name}/<draft_id>/<step>", methods=["GET", "POST"])
    @login_required
    def step(draft_id: str, step: str) -> BaseResponse:
        person = current_person()
        assert person is not None and person.id is not None
        session = dbs()
        draft = engine.load_draft(session, wizard, draft_id, person.id)
        if draft is None or (step not in SPECIAL and wizard.step(step) is None):
            abort(404)
        if draft.case_id is not None:
            # Submitted: every step of this draft leads to its receipt, never to a resubmit.
            if step != engine.DONE:
                return go(draft.id, engine.DONE)
            case = engine.case_of(session, draft)
            assert case is not None
            return render_page(
                f"{name}/done.html", case=case, record=cases.record_of(session, case)
            )
        ctx = _context(person, draft)
        if step == engine.DONE:
            return go(draft.id, wizard.next_step(draft.answers))
        block = wizard.blocked(ctx)
        if block is not None:
            # What blocks may be this very draft's submission, committed by a concurrent
            # request since the draft was read (a double click): then show its receipt.
            session.refresh(draft)
            if draft.case_id is not None:
                return go(draft.id, engine.DONE)
        if step == engine.STOP:
            if block is None:
                return go(draft.id, wizard.next_step(draft.answers))
            return _stop(block, draft.id, 200, wizard.outlook(ctx))
        if block is not None and not _at_or_before(wizard, draft.answers, step, block.step):
            return go(draft.id, engine.STOP)
        if not wizard.may_open(draft.answers, step):
            return go(draft.id, wizard.next_step(draft.answers))
        if step == engine.CHECK:
            return _check(ctx)
        return _step(ctx, wizard.step(step))  # type: ignore[arg-type]

    @bp.post(f"/{name}/<draft_id>/<step>/resend")
    @login_required
    def resend(draft_id: str, step: str) -> BaseResponse:
        person = current_person()
        assert person is not None and person.id is not None
        draft = engine.load_draft(dbs(), wizard, draft_id, person.id)
        definition = wizard.step(step)
        if draft is None or definition is None or definition.resend is None:
            abort(404)
        if draft.case_id is None and wizard.may_open(draft.answers, step):
            outcome = definition.resend(_context(person, draft))
            commit_and_deliver()
            if outcome:
                flash(outcome, "resend")
        return go(draft.id, step)

    def _back(draft_id: str, answers: engine.Answers, step: str) -> str:
        if request.args.get("change") and step != engine.CHECK:
            return step_url(draft_id, engine.CHECK)
        previous = wizard.previous(answers, step)
        return step_url(draft_id, previous) if previous else url_for("permit.show")

    def _render(ctx: engine.StepContext, step: str, form: Any, status: int) -> Response:
        return render_page(
            f"{name}/{step}.html",
            status=status,
            form=form,
            ctx=ctx,
            answers=ctx.answers,
            back_url=_back(ctx.draft.id, ctx.answers, step),
            action=request.full_path.rstrip("?"),
            summary=wizard.summary(ctx) if step == engine.CHECK else None,
            step_url=lambda s: step_url(ctx.draft.id, s, change=1),
            **wizard.outlook(ctx),
        )

    def _step(ctx: engine.StepContext, step: engine.Step) -> BaseResponse:
        saved = ctx.answers.get(step.name)
        if request.method == "GET":
            data = saved if saved is not None else (step.prefill(ctx) if step.prefill else {})
            form = step.form(formdata=None, data=data, today=ctx.today)
            _setup(form, ctx)
            return _render(ctx, step.name, form, 200)
        form = step.form(today=ctx.today)
        _setup(form, ctx)
        limit = step.limit
        if limit and not allowed(limit.budget, ctx.actor.id, ctx.client_address):  # type: ignore[arg-type]
            # Refused next to the field like any other error, with what was typed kept.
            getattr(form, limit.field).errors = [TOO_OFTEN]
            return _render(ctx, step.name, form, 429)
        valid = form.validate()
        if valid and step.validate is not None:
            valid = step.validate(form, ctx)
        if not valid:
            # Nothing of an invalid step is saved; wrong consent codes are counted, though.
            ctx.session.commit()
            return _render(ctx, step.name, form, 422)
        data = _form_data(form)
        if step.store is not None:
            data.update(step.store(form, ctx))
        answers = wizard.with_answer(ctx.answers, step.name, data)
        if not engine.save_answers(ctx.session, ctx.draft, answers, ctx.now):
            ctx.session.rollback()
            return go(ctx.draft.id, engine.DONE)
        commit_and_deliver()
        if wizard.blocked(ctx) is not None:
            return go(ctx.draft.id, engine.STOP)
        return go(ctx.draft.id, wizard.next_step(answers))

    def _setup(form: Any, ctx: engine.StepContext) -> None:
        setup = getattr(form, "setup", None)
        if setup is not None:
            setup(ctx)

    def _check(ctx: engine.StepContext) -> BaseResponse:
        if request.method == "GET":
            return _render(
                ctx, engine.CHECK, wizard.check_form(formdata=None, today=ctx.today), 200
            )
        form = wizard.check_form(today=ctx.today)
        if not form.validate():
            return _render(ctx, engine.CHECK, form, 422)
        try:
            case = wizard.submit(ctx)
        except engine.Refused as refused:
            ctx.session.rollback()
            again = engine.load_draft(ctx.session, wizard, ctx.draft.id, ctx.actor.id)  # type: ignore[arg-type]
            if again is not None and again.case_id is not None:
                return go(ctx.draft.id, engine.DONE)
            return _stop(refused.block, ctx.draft.id, 409, {})
        if not engine.mark_submitted(ctx.session, ctx.draft, case):
            # The same draft was submitted meanwhile: show that result, change nothing.
            ctx.session.rollback()
            return go(ctx.draft.id, engine.DONE)
        commit_and_deliver()
        return go(ctx.draft.id, engine.DONE)

    def _stop(block: engine.Block, draft_id: str, status: int, outlook: dict[str, Any]) -> Response:
        return render_page(
            f"{name}/stop.html",
            status=status,
            block=block,
            **outlook,
            back_url=step_url(draft_id, block.step, change=1)
            if wizard.step(block.step)
            else url_for("permit.show"),
        )

    return bp


def _context(person: Person, draft: Draft) -> engine.StepContext:
    """What a wizard's hooks see of this request; only here is the clock read for them."""
    return engine.StepContext(
        session=dbs(),
        actor=person,
        today=clock.today(),
        now=clock.now(),
        draft=draft,
        settings=current_app.config,
        client_address=client_address(),
    )


def _at_or_before(wizard: engine.Wizard, answers: engine.Answers, step: str, limit: str) -> bool:
    """Steps up to the one that blocked stay open, so the answer can be changed."""
    order = [s.name for s in wizard.applicable(answers)]
    if step not in order or limit not in order:
        return False
    return order.index(step) <= order.index(limit)
