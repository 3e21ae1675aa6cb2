"""Routes for every registered wizard (SPEC 4.1): start, each step, check answers, stop, done.

Thin by design: load the draft, ask the engine (epermit.wizard) which page the request gets,
call the step's hooks, then render or redirect. What differs between services is declared in
epermit.wizards.*; `init_app` registers each one and tells templates how a case kind reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from epermit import db
from epermit import wizard as engine
from epermit.extensions import DRAFTS, allowed, spend, within
from epermit.forms import TOO_OFTEN
from epermit.htmx import render_page
from epermit.models import Case, Draft
from epermit.services import cases
from epermit.views._common import acting, commit_and_deliver, dbs, login_required, viewing_id

EXTENSION = "epermit.wizards"
# The pages a wizard need not write itself.
GENERIC_TEMPLATES = {
    engine.CHECK: "wizard/generic_check.html",
    engine.STOP: "wizard/stop.html",
    engine.DONE: "wizard/done.html",
}


def init_app(app: Flask, wizards: Iterable[engine.Wizard]) -> None:
    """Serve each wizard, and let templates find the service a case belongs to."""
    registry: dict[str, engine.Wizard] = {}
    for wizard in wizards:
        if wizard.case_kind in registry:
            raise engine.InvalidWizard(f"two wizards make {wizard.case_kind} cases")
        registry[wizard.case_kind] = wizard
        app.register_blueprint(WizardViews(wizard).blueprint())
    app.extensions[EXTENSION] = registry
    app.jinja_env.globals["service_of"] = service_of


def service_of(case: Case) -> engine.Wizard:
    """The wizard whose cases are of this case's kind: its words for the case list."""
    return current_app.extensions[EXTENSION][case.kind]


class WizardViews:
    """The routes of one wizard."""

    def __init__(self, wizard: engine.Wizard) -> None:
        self.wizard = wizard
        self.name = wizard.name
        # Which template serves each page: found once, as templates do not change while
        # the app runs, rather than a failed look-up of the wizard's own on every request.
        self.templates: dict[str, str] = {}

    def blueprint(self) -> Blueprint:
        bp = Blueprint(self.name, __name__)
        bp.add_url_rule(
            f"/{self.name}", "start", db.writes_on_get(login_required(self.start)), methods=["GET"]
        )
        bp.add_url_rule(
            f"/{self.name}/<draft_id>/<step>",
            "step",
            login_required(self.page),
            methods=["GET", "POST"],
        )
        bp.add_url_rule(
            f"/{self.name}/<draft_id>/<step>/resend",
            "resend",
            login_required(self.resend),
            methods=["POST"],
        )
        return bp

    # --- addresses ------------------------------------------------------------------------

    def url(self, draft_id: str, page: str, **args: Any) -> str:
        return url_for(f"{self.name}.step", draft_id=draft_id, step=page, **args)

    def go(self, draft_id: str, page: str) -> BaseResponse:
        return redirect(self.url(draft_id, page), 303)

    def template(self, page: str) -> str:
        """The wizard's own template for the page, or the engine's generic one."""
        if page not in self.templates:
            fallback = GENERIC_TEMPLATES.get(page, "wizard/generic_step.html")
            names = [f"{self.name}/{page}.html", fallback]
            self.templates[page] = current_app.jinja_env.select_template(names).name or fallback
        return self.templates[page]

    # --- routes ---------------------------------------------------------------------------

    def start(self) -> BaseResponse:
        who = acting()
        if not allowed(DRAFTS, who.person_id):
            abort(429)
        defaults: dict[str, Any] = {}
        if viewing_id() != who.person_id:
            # 切换: the person switched to is the default applicant.
            defaults["member"] = str(viewing_id())
        draft = engine.new_draft(dbs(), self.wizard, who.person_id, who.now, defaults)
        dbs().commit()
        return self.go(draft.id, self.wizard.steps[0].name)

    def page(self, draft_id: str, step: str) -> BaseResponse:
        draft = self.draft_or_404(draft_id)
        if step not in engine.SPECIAL and self.wizard.step(step) is None:
            abort(404)
        ctx = self.context(draft)
        block = None if draft.case_id is not None else self.wizard.blocked(ctx)
        if block is not None:
            # What blocks may be this very draft's submission, committed by a concurrent
            # request since the draft was read (a double click): then show its receipt.
            dbs().refresh(draft)
        decision = engine.route(
            self.wizard,
            draft.answers,
            step,
            submitted=draft.case_id is not None,
            block=block,
        )
        if isinstance(decision, engine.Redirect):
            return self.go(draft.id, decision.page)
        if decision.page == engine.DONE:
            return self.done(draft)
        if decision.page == engine.STOP:
            assert block is not None
            return self.stop(ctx, block, 200)
        if decision.page == engine.CHECK:
            return self.check(ctx)
        definition = self.wizard.step(decision.page)
        assert definition is not None
        return self.step(ctx, definition)

    def resend(self, draft_id: str, step: str) -> BaseResponse:
        draft = self.draft_or_404(draft_id)
        definition = self.wizard.step(step)
        if definition is None or definition.resend is None:
            abort(404)
        if draft.case_id is None and self.wizard.may_open(draft.answers, step):
            outcome = definition.resend(self.context(draft))
            commit_and_deliver()
            if outcome:
                flash(outcome, "resend")
        return self.go(draft.id, step)

    # --- pages ----------------------------------------------------------------------------

    def draft_or_404(self, draft_id: str) -> Draft:
        draft = engine.load_draft(dbs(), self.wizard, draft_id, acting().person_id)
        if draft is None:
            abort(404)
        return draft

    def context(self, draft: Draft) -> engine.StepContext:
        return engine.StepContext(
            session=dbs(), acting=acting(), draft=draft, settings=current_app.config
        )

    def render(
        self, ctx: engine.StepContext, page: str, form: Any, status: int | None = None
    ) -> Response:
        """The page for `form`; 200, or 422 for a refused one (htmx.render_page's rule)."""
        previous = engine.back(
            self.wizard, ctx.answers, page, changing=bool(request.args.get("change"))
        )
        return render_page(
            self.template(page),
            status=status,
            form=form,
            ctx=ctx,
            wizard=self.wizard,
            answers=ctx.answers,
            back_url=self.url(ctx.draft.id, previous) if previous else url_for("permit.show"),
            action=request.full_path.rstrip("?"),
            summary=engine.check_rows(self.wizard, ctx) if page == engine.CHECK else None,
            step_url=lambda s: self.url(ctx.draft.id, s, change=1),
            **self.wizard.outlook(ctx),
        )

    def step(self, ctx: engine.StepContext, step: engine.Step) -> BaseResponse:
        if request.method == "GET":
            saved = ctx.answers.get(step.name)
            data = saved if saved is not None else (step.prefill(ctx) if step.prefill else {})
            return self.render(ctx, step.name, engine.stored_form(step, ctx, data))
        form = step.form(today=ctx.today)
        engine.form_setup(form, ctx)
        limit = step.limit
        if limit and not within(limit.budget, ctx.actor_id):
            # Refused next to the field like any other error, with what was typed kept.
            getattr(form, limit.field).errors = [TOO_OFTEN]
            return self.render(ctx, step.name, form, 429)
        valid = form.validate()
        if valid and step.validate is not None:
            valid = step.validate(form, ctx)
            if not valid and limit:
                # Only what the database refused counts (a lookup that missed, a wrong
                # code), never a typo the form caught nor an answer that was right.
                spend(limit.budget, ctx.actor_id)
        if not valid:
            # Nothing of an invalid step is saved; wrong consent codes are counted, though.
            ctx.session.commit()
            return self.render(ctx, step.name, form)
        data = engine.answer_data(form)
        if step.store is not None:
            data.update(step.store(form, ctx))
        answers = self.wizard.with_answer(ctx.answers, step.name, data)
        if not engine.save_answers(ctx.session, ctx.draft, answers, ctx.now):
            ctx.session.rollback()
            return self.go(ctx.draft.id, engine.DONE)
        commit_and_deliver()
        block = self.wizard.blocked(ctx)
        return self.go(ctx.draft.id, engine.after_answer(self.wizard, answers, block))

    def check(self, ctx: engine.StepContext) -> BaseResponse:
        if request.method == "GET":
            form = self.wizard.check_form(formdata=None, today=ctx.today)
            return self.render(ctx, engine.CHECK, form)
        form = self.wizard.check_form(today=ctx.today)
        if not form.validate():
            return self.render(ctx, engine.CHECK, form)
        try:
            case = self.wizard.submit(ctx)
        except engine.Refused as refused:
            ctx.session.rollback()
            again = engine.load_draft(ctx.session, self.wizard, ctx.draft.id, ctx.actor_id)
            if again is not None and again.case_id is not None:
                return self.go(ctx.draft.id, engine.DONE)
            return self.stop(ctx, refused.block, 409, outlook=False)
        if not engine.mark_submitted(ctx.session, ctx.draft, case):
            # The same draft was submitted meanwhile: show that result, change nothing.
            ctx.session.rollback()
            return self.go(ctx.draft.id, engine.DONE)
        commit_and_deliver()
        return self.go(ctx.draft.id, engine.DONE)

    def stop(
        self, ctx: engine.StepContext, block: engine.Block, status: int, *, outlook: bool = True
    ) -> Response:
        back = engine.stop_back(self.wizard, block)
        return render_page(
            self.template(engine.STOP),
            status=status,
            block=block,
            wizard=self.wizard,
            **(self.wizard.outlook(ctx) if outlook else {}),
            back_url=self.url(ctx.draft.id, back, change=1) if back else url_for("permit.show"),
        )

    def done(self, draft: Draft) -> Response:
        case = engine.case_of(dbs(), draft)
        assert case is not None
        return render_page(
            self.template(engine.DONE),
            case=case,
            wizard=self.wizard,
            record=cases.record_of(dbs(), case),
        )
