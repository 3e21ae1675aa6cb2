"""Routes for every registered wizard (SPEC 4.1): start, each step, check answers, stop, done.

Thin by design: load the draft, ask the engine (epermit.wizard) which page the request gets,
call the step's hooks, then render or redirect. What differs between services is declared in
epermit.wizards.*; `init_app` registers each one and tells templates how a case kind reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from epermit import db
from epermit import wizard as engine
from epermit.extensions import DRAFTS, allowed, spend, within
from epermit.forms import TOO_OFTEN
from epermit.htmx import follow, render_page
from epermit.models import Case, Draft
from epermit.services import cases
from epermit.views._common import acting, commit_and_deliver, dbs, login_required, viewing_id
from epermit.vocabulary import CaseKind

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


@dataclass(frozen=True)
class CaseWords:
    """How the case list and receipts name a kind of case no wizard makes (an objection is
    one form, SPEC 11.1): the fields of a Wizard those pages read."""

    name: str  # its templates' folder: templates/<name>/_record.html adds to the record
    title: str
    outcomes: Mapping[str, engine.Outcome]
    agent_title: str = "代办人"


OTHER_CASES = "epermit.case_words"


def register_case_words(app: Flask, kind: CaseKind, words: CaseWords) -> None:
    app.extensions.setdefault(OTHER_CASES, {})[kind] = words


def service_of(case: Case) -> engine.Wizard | CaseWords:
    """The wizard whose cases are of this case's kind (or the words of a kind no wizard
    makes): its words for the case list."""
    wizard = current_app.extensions[EXTENSION].get(case.kind)
    return wizard if wizard is not None else current_app.extensions[OTHER_CASES][case.kind]


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
            f"/{self.name}",
            "start",
            db.writes_on_get(login_required(self.start)),
            methods=["GET", "POST"],
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

    def go(self, draft: Draft, page: str) -> BaseResponse:
        """To `page`: a 303, or for htmx that page at once (epermit.htmx.follow)."""
        url = self.url(draft.id, page)
        return follow(url, lambda: self.respond(draft, page, posted=False, url=url))

    def template(self, page: str) -> str:
        """The wizard's own template for the page, or the engine's generic one."""
        if page not in self.templates:
            fallback = GENERIC_TEMPLATES.get(page, "wizard/generic_step.html")
            names = [f"{self.name}/{page}.html", fallback]
            self.templates[page] = current_app.jinja_env.select_template(names).name or fallback
        return self.templates[page]

    # --- routes ---------------------------------------------------------------------------

    def start(self) -> BaseResponse:
        """A new draft, at its first step (SPEC 4.1). A POST carries the first step's answer
        as well, from a button that asks it (/permit's 办理签注 is for the permit shown):
        the draft starts answered, and leads to the step after, one round trip fewer on 2G;
        the first step stays in the draft's path, on check answers and behind the back link.
        """
        who = acting()
        if not allowed(DRAFTS, who.person_id):
            abort(429)
        defaults: dict[str, Any] = {}
        if viewing_id() != who.person_id:
            # 切换: the person switched to is the default applicant.
            defaults["member"] = str(viewing_id())
        draft = engine.new_draft(dbs(), self.wizard, who.person_id, who.now, defaults)
        dbs().commit()
        first = self.wizard.steps[0]
        if request.method == "POST":
            # Answered as a POST of that step is, checks and all; a refused answer shows the
            # step with its error, at the step's own address.
            return self.step(self.context(draft), first, True, self.url(draft.id, first.name))
        return self.go(draft, first.name)

    def page(self, draft_id: str, step: str) -> BaseResponse:
        draft = self.draft_or_404(draft_id)
        if step not in engine.SPECIAL and self.wizard.step(step) is None:
            abort(404)
        url = request.full_path.rstrip("?")
        return self.respond(draft, step, posted=request.method == "POST", url=url)

    def respond(self, draft: Draft, step: str, *, posted: bool, url: str) -> BaseResponse:
        """The answer to a GET (or, `posted`, a POST) of the draft's page `step` at `url`."""
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
            return self.go(draft, decision.page)
        if decision.page == engine.DONE:
            return self.done(draft)
        if decision.page == engine.STOP:
            assert block is not None
            return self.stop(ctx, block, 200)
        if decision.page == engine.CHECK:
            return self.check(ctx, posted, url)
        definition = self.wizard.step(decision.page)
        assert definition is not None
        return self.step(ctx, definition, posted, url)

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
        return self.go(draft, step)

    # --- pages ----------------------------------------------------------------------------

    def draft_or_404(self, draft_id: str) -> Draft:
        draft = engine.load_draft(dbs(), self.wizard, draft_id, acting().person_id)
        if draft is None:
            abort(404)
        return draft

    def context(self, draft: Draft) -> engine.StepContext:
        return engine.StepContext(
            session=dbs(),
            acting=acting(),
            draft=draft,
            settings=current_app.config,
            query=request.args.to_dict(),
        )

    def render(
        self, ctx: engine.StepContext, page: str, form: Any, url: str, status: int | None = None
    ) -> Response:
        """The page at `url` for `form`; 200, or 422 for a refused one (htmx.render_page's
        rule). `url` is the request's, or for an htmx POST the next page's (htmx.follow)."""
        changing = "change=" in url.partition("?")[2]
        previous = engine.back(self.wizard, ctx.answers, page, changing=changing)
        return render_page(
            self.template(page),
            status=status,
            form=form,
            ctx=ctx,
            wizard=self.wizard,
            answers=ctx.answers,
            back_url=self.url(ctx.draft.id, previous) if previous else url_for("permit.show"),
            action=url,
            summary=engine.check_rows(self.wizard, ctx) if page == engine.CHECK else None,
            step_url=lambda s: self.url(ctx.draft.id, s, change=1),
            **self.wizard.outlook(ctx),
        )

    def step(
        self, ctx: engine.StepContext, step: engine.Step, posted: bool, url: str
    ) -> BaseResponse:
        if not posted:
            saved = ctx.answers.get(step.name)
            data = saved if saved is not None else (step.prefill(ctx) if step.prefill else {})
            return self.render(ctx, step.name, engine.stored_form(step, ctx, data), url)
        form = step.form(today=ctx.today)
        engine.form_setup(form, ctx)
        limit = step.limit
        if limit and not within(limit.budget, ctx.actor_id):
            # Refused next to the field like any other error, with what was typed kept.
            getattr(form, limit.field).errors = [TOO_OFTEN]
            return self.render(ctx, step.name, form, url, 429)
        valid = form.validate()
        if step.validate is not None:
            if valid:
                valid = step.validate(form, ctx)
                if not valid and limit:
                    # Only what the database refused counts (a lookup that missed, a wrong
                    # code), never a typo the form caught nor an answer that was right.
                    spend(limit.budget, ctx.actor_id)
            else:
                # All checks in one round (GOV.UK): the account match too, when the fields it
                # reads are well-formed, rather than only after the format errors are fixed.
                before = sum(len(field.errors) for field in form)
                checked_where_well_formed(form, lambda guarded: step.validate(guarded, ctx))
                if limit and sum(len(field.errors) for field in form) > before:
                    # A refusal by the database counts here too: a malformed second field
                    # must not make lookups free.
                    spend(limit.budget, ctx.actor_id)
        if not valid:
            # Nothing of an invalid step is saved; wrong consent codes are counted, though.
            ctx.session.commit()
            return self.render(ctx, step.name, form, url)
        data = engine.answer_data(form)
        if step.store is not None:
            data.update(step.store(form, ctx))
        answers = self.wizard.with_answer(ctx.answers, step.name, data)
        if not engine.save_answers(ctx.session, ctx.draft, answers, ctx.now):
            ctx.session.rollback()
            return self.go(ctx.draft, engine.DONE)
        # Asked before the commit, in the transaction that saved the answer: it reads the
        # same, without a second transaction.
        block = self.wizard.blocked(ctx)
        commit_and_deliver()
        return self.go(ctx.draft, engine.after_answer(self.wizard, answers, block))

    def check(self, ctx: engine.StepContext, posted: bool, url: str) -> BaseResponse:
        if not posted:
            form = self.wizard.check_form(formdata=None, today=ctx.today)
            return self.render(ctx, engine.CHECK, form, url)
        form = self.wizard.check_form(today=ctx.today)
        if not form.validate():
            return self.render(ctx, engine.CHECK, form, url)
        try:
            case = self.wizard.submit(ctx)
        except engine.Refused as refused:
            ctx.session.rollback()
            again = engine.load_draft(ctx.session, self.wizard, ctx.draft.id, ctx.actor_id)
            if again is not None and again.case_id is not None:
                return self.go(ctx.draft, engine.DONE)
            return self.stop(ctx, refused.block, 409, outlook=False)
        if not engine.mark_submitted(ctx.session, ctx.draft, case):
            # The same draft was submitted meanwhile: show that result, change nothing.
            ctx.session.rollback()
            return self.go(ctx.draft, engine.DONE)
        commit_and_deliver()
        return self.go(ctx.draft, engine.DONE)

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
        assert draft.case_id is not None
        record = cases.record_of(dbs(), draft.case_id)
        assert record is not None
        return render_page(
            self.template(engine.DONE),
            case=record.case,
            wizard=self.wizard,
            record=record,
        )


class _IllFormed(Exception):
    """A step's check read a field that already failed its own checks."""


class _WellFormedOnly:
    """The form as a step's check sees it when some fields were refused: reading one of those
    stops the check (it would only add a second, confusing message to that field)."""

    def __init__(self, form: Any, refused: set[str]) -> None:
        object.__setattr__(self, "_form", form)
        object.__setattr__(self, "_refused", refused)

    def __getattr__(self, name: str) -> Any:
        if name in self._refused:
            raise _IllFormed(name)
        return getattr(self._form, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._form, name, value)


def checked_where_well_formed(form: Any, check: Any) -> None:
    """Run `check` on a form that has errors already, as far as the fields it reads are
    well-formed: what it refused until it reached a refused field stands."""
    refused = {name for name, field in form._fields.items() if field.errors}
    try:
        check(_WellFormedOnly(form, refused))
    except (_IllFormed, TypeError, ValueError, KeyError, AttributeError):
        # Or it met an answer left empty because of a refused one (a tampered member
        # choice leaves the ID number unasked): then it has nothing to add yet.
        pass
