"""One step engine for every wizard (SPEC 4.1; STYLE: hmpo-form-wizard).

A wizard is one declaration: an ordered tuple of steps, each with the condition under which
it applies, the form that asks it and the answers it makes stale when it changes, plus what
is particular to the service (title, case kind, outcome words). The engine derives from the
answers alone which steps apply, which may be opened (no skipping ahead), where "back" goes,
what comes next, which page a request gets (`route`), and the check-answers rows (from each
step's form unless the step says otherwise). After an edit from check answers, "next" is the
first applicable question still unanswered, which is check answers itself when none is.

Nothing here knows Flask: views/_wizard.py turns a Wizard into routes and only loads, calls
this module, and renders or redirects.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from epermit.acting import Acting
from epermit.budgets import Budget
from epermit.models import Case, Draft, Person
from epermit.sql import fetch, insert, rowcount, run, table_of
from epermit.vocabulary import REFERENCE_PREFIXES, CaseKind

if TYPE_CHECKING:
    from markupsafe import Markup

Answers = dict[str, dict[str, Any]]
CHECK = "check"
DONE = "done"
STOP = "stop"
SPECIAL = frozenset({CHECK, DONE, STOP})
# Answers whose key starts with this are the draft's own facts (e.g. `_defaults`, the member
# switched to when it was started), not answers to a step: never dropped, never shown.
PRIVATE = "_"


@dataclass
class StepContext:
    """What a step's hooks may use: the database, who acts and when, the draft so far."""

    session: Session
    acting: Acting
    draft: Draft
    settings: Mapping[str, Any]
    # Facts a wizard works out once per request and reads on several hooks.
    memo: dict[str, Any] = field(default_factory=dict)
    # The page's query arguments, for a step that searches on its own page with a GET (the
    # address register): a form's `setup(ctx)` may read them; they are never stored.
    query: Mapping[str, str] = field(default_factory=dict)

    @property
    def answers(self) -> Answers:
        return self.draft.answers

    @property
    def actor(self) -> Person:
        return self.acting.person

    @property
    def actor_id(self) -> int:
        return self.acting.person_id

    @property
    def today(self) -> date:
        return self.acting.today

    @property
    def now(self) -> datetime:
        return self.acting.now

    @property
    def client_address(self) -> str | None:
        return self.acting.client_address


@dataclass(frozen=True)
class Block:
    """The journey cannot go on online; `step` is the answer that led here."""

    reason: str
    step: str
    info: dict[str, Any] = field(default_factory=dict)


class Refused(Exception):
    """Raised by a wizard's submit hook when the case cannot be made after all."""

    def __init__(self, block: Block) -> None:
        super().__init__(block.reason)
        self.block = block


class InvalidWizard(ValueError):
    """A declaration that cannot work: found when it is built, not by a user."""


@dataclass(frozen=True)
class Row:
    """One line of check answers: what was asked, the answer, and the step to change it."""

    label: str
    value: str | Markup
    step: str


@dataclass(frozen=True)
class Limit:
    budget: Budget  # tries against one budget are shared, whichever step or page made them
    field: str  # the field the refusal is shown next to


@dataclass(frozen=True)
class Outcome:
    """How a case's outcome reads in the case list and on its receipt."""

    service: str  # what was done, e.g. 补办签注
    result: str  # the result, e.g. 已补办签注


# (label, value) pairs a step shows on check answers.
Pairs = list[tuple[str, "str | Markup"]]


@dataclass(frozen=True)
class Step:
    name: str
    form: type
    applies: Callable[[Answers], bool] = lambda answers: True
    # Steps whose answers depend on this one and are dropped when it changes.
    invalidates: tuple[str, ...] = ()
    # Checks needing the database; set field errors and return False to refuse.
    validate: Callable[[Any, StepContext], bool] | None = None
    # What to store; may add resolved facts (e.g. the applicant's person id) or queue an SMS.
    store: Callable[[Any, StepContext], dict[str, Any]] | None = None
    # Values for a first visit (e.g. the agent's own name, the person switched to).
    prefill: Callable[[StepContext], dict[str, Any]] | None = None
    # A second action on the page besides 继续 (e.g. send the consent code again).
    # It says what happened ("sent", "wait", "capped"), for the page to tell.
    resend: Callable[[StepContext], str | None] | None = None
    # How often one person may fail the step's database check: for steps that look
    # people up by name and ID number (or send them an SMS), which must not become a way to
    # test guesses against the register.
    limit: Limit | None = None
    # Check-answers rows when the stored form alone cannot tell them (a person looked up in
    # the database): given the context, the form filled with the answer, and the answer.
    rows: Callable[[StepContext, Any, dict[str, Any]], Pairs] | None = None
    # Where the change link of this step's rows leads, when not to the step itself (a
    # consent code cannot be changed; the applicant it was sent to can).
    change_at: str | None = None


@dataclass(frozen=True)
class Wizard:
    """Everything particular to one service. Register it in epermit.wizards.WIZARDS: its
    routes, its case kind's words in the case list and receipts follow from this."""

    name: str  # the URL (/name) and the templates' folder (templates/name/)
    title: str  # the service's name, above every step's heading
    case_kind: CaseKind
    steps: tuple[Step, ...]
    check_form: type
    # Whether the answers so far already rule out finishing online, and why.
    blocked: Callable[[StepContext], Block | None]
    # Create the case from the answers; called once, inside the request's transaction.
    submit: Callable[[StepContext], Case]
    # Each outcome its cases can have, as the case list and receipt say it.
    outcomes: Mapping[str, Outcome]
    # What the service is called in an SMS asking an applicant's consent ("代办居住证签注").
    action: str
    # What the person who made a case for someone else is called on its record.
    agent_title: str = "代办人"
    # Facts every page of the wizard may show (whose permit, what the outcome would be).
    outlook: Callable[[StepContext], dict[str, Any]] = lambda ctx: {}

    def __post_init__(self) -> None:
        names = [step.name for step in self.steps]
        if not names:
            raise InvalidWizard(f"{self.name}: a wizard needs at least one step")
        if len(set(names)) != len(names):
            raise InvalidWizard(f"{self.name}: step names repeat: {names}")
        if SPECIAL & set(names) or any(n.startswith(PRIVATE) for n in names):
            raise InvalidWizard(f"{self.name}: {names} uses a reserved step name")
        for step in self.steps:
            for name in (*step.invalidates, *([step.change_at] if step.change_at else [])):
                if name not in names:
                    raise InvalidWizard(f"{self.name}.{step.name} names no step {name!r}")
        if not self.outcomes:
            raise InvalidWizard(f"{self.name}: no outcome words")

    @property
    def reference_prefix(self) -> str:
        return REFERENCE_PREFIXES[self.case_kind]

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def applicable(self, answers: Answers) -> list[Step]:
        return [s for s in self.steps if s.applies(answers)]

    def order(self, answers: Answers) -> list[str]:
        return [s.name for s in self.applicable(answers)]

    def next_step(self, answers: Answers) -> str:
        """The first applicable step without an answer, or check-answers."""
        for step in self.applicable(answers):
            if step.name not in answers:
                return step.name
        return CHECK

    def may_open(self, answers: Answers, name: str) -> bool:
        """A step can be opened when it applies and every step before it is answered."""
        if name == CHECK:
            return self.next_step(answers) == CHECK
        order = self.order(answers)
        if name not in order:
            return False
        return all(earlier in answers for earlier in order[: order.index(name)])

    def previous(self, answers: Answers, name: str) -> str | None:
        order = [*self.order(answers), CHECK]
        if name not in order or order.index(name) == 0:
            return None
        return order[order.index(name) - 1]

    def with_answer(self, answers: Answers, name: str, data: dict[str, Any]) -> Answers:
        """New answers after `name` is answered with `data`: dependants of a changed answer
        are dropped, and so are answers to steps that no longer apply."""
        step = self.step(name)
        if step is None:
            raise KeyError(name)
        updated = {k: v for k, v in answers.items() if k != name}
        if answers.get(name) != data:
            for dependant in step.invalidates:
                updated.pop(dependant, None)
        updated[name] = data
        applicable = set(self.order(updated))
        return {k: v for k, v in updated.items() if k.startswith(PRIVATE) or k in applicable}


# --- Routing: which page a request gets ---------------------------------------------------


@dataclass(frozen=True)
class Show:
    """Render this page (a step's name, CHECK, STOP or DONE)."""

    page: str


@dataclass(frozen=True)
class Redirect:
    """Send the browser to this page of the same draft."""

    page: str


Route = Show | Redirect


def route(
    wizard: Wizard, answers: Answers, page: str, *, submitted: bool, block: Block | None
) -> Route:
    """Where a request for `page` of a draft goes.

    A submitted draft leads only to its receipt. What blocks the journey is shown on the stop
    page, but the steps up to the answer that blocked stay open, so it can be changed. Any
    other page opens only when every step before it is answered (no skipping ahead).
    """
    if submitted:
        return Show(DONE) if page == DONE else Redirect(DONE)
    if page == DONE:
        return Redirect(wizard.next_step(answers))
    if page == STOP:
        return Show(STOP) if block is not None else Redirect(wizard.next_step(answers))
    if block is not None and not _at_or_before(wizard, answers, page, block.step):
        return Redirect(STOP)
    if not wizard.may_open(answers, page):
        return Redirect(wizard.next_step(answers))
    return Show(page)


def after_answer(wizard: Wizard, answers: Answers, block: Block | None) -> str:
    """Where a step that was just answered leads."""
    return STOP if block is not None else wizard.next_step(answers)


def back(wizard: Wizard, answers: Answers, page: str, *, changing: bool) -> str | None:
    """The back link's page: check answers while changing an answer, else the step before;
    None when the page is the first (the link then leaves the wizard)."""
    if changing and page != CHECK:
        return CHECK
    return wizard.previous(answers, page)


def stop_back(wizard: Wizard, block: Block) -> str | None:
    """The stop page's back link: the answer that led there, to change it."""
    return block.step if wizard.step(block.step) is not None else None


def _at_or_before(wizard: Wizard, answers: Answers, page: str, limit: str) -> bool:
    order = wizard.order(answers)
    if page not in order or limit not in order:
        return False
    return order.index(page) <= order.index(limit)


# --- Check answers ------------------------------------------------------------------------


def stored_form(step: Step, ctx: StepContext, data: dict[str, Any] | None = None) -> Any:
    """The step's form filled with its stored answer (or `data`), as it is shown again."""
    stored = data if data is not None else ctx.answers.get(step.name)
    form = step.form(formdata=None, data=stored, today=ctx.today)
    form_setup(form, ctx)
    return form


def form_setup(form: Any, ctx: StepContext) -> None:
    """A form may fit itself to the answers so far (choices from the family list, the fields
    a declarant role needs) through a `setup(ctx)` method."""
    setup = getattr(form, "setup", None)
    if setup is not None:
        setup(ctx)


def form_rows(form: Any) -> Pairs:
    """(label, value) for each answered field: the form's own `check_rows()` if it has one,
    else each field's `check_label` or label, and its `display()` or its choice's words."""
    own = getattr(form, "check_rows", None)
    if own is not None:
        return list(own())
    pairs: Pairs = []
    for item in form:
        if item.data in (None, "", False):
            continue
        label = getattr(item, "check_label", None) or item.label.text
        pairs.append((label, field_display(item)))
    return pairs


def field_display(item: Any) -> str | Markup:
    display = getattr(item, "display", None)
    if display is not None:
        return display()
    choices = getattr(item, "choices", None)
    if choices:
        return dict(choices).get(item.data, str(item.data))
    return str(item.data)


def check_rows(wizard: Wizard, ctx: StepContext) -> list[Row]:
    """The check-answers rows: every applicable answered step's, in the journey's order."""
    rows: list[Row] = []
    for step in wizard.applicable(ctx.answers):
        data = ctx.answers.get(step.name)
        if data is None:
            continue
        form = stored_form(step, ctx, data)
        pairs = step.rows(ctx, form, data) if step.rows is not None else form_rows(form)
        target = step.change_at or step.name
        rows += [Row(label, value, target) for label, value in pairs]
    return rows


def answer_data(form: Any) -> dict[str, Any]:
    """What a step stores: its fields' normalised values, as JSON."""
    data: dict[str, Any] = {}
    for item in form:
        value = item.data
        data[item.name] = value.isoformat() if isinstance(value, date) else value
    return data


# --- Drafts -------------------------------------------------------------------------------


def new_draft(
    session: Session, wizard: Wizard, owner_id: int, now: datetime, defaults: dict[str, Any]
) -> Draft:
    draft = Draft(
        id=secrets.token_urlsafe(18),
        wizard=wizard.name,
        owner_id=owner_id,
        answers={f"{PRIVATE}defaults": defaults},
        created_at=now,
        updated_at=now,
    )
    # Written at once (sql.insert): the draft is the start page's only write.
    return insert(session, draft)


def load_draft(session: Session, wizard: Wizard, draft_id: str, owner_id: int) -> Draft | None:
    """A draft of this wizard belonging to this person; anyone else's is as if absent."""
    draft = fetch(session, Draft, draft_id)
    if draft is None or draft.wizard != wizard.name or draft.owner_id != owner_id:
        return None
    return draft


def defaults(answers: Answers) -> dict[str, Any]:
    """What the draft was started with (the member switched to)."""
    return answers.get(f"{PRIVATE}defaults", {})


# Every answer saves the draft, and every submission marks it: built once, on the table, so
# that SQLAlchemy neither builds nor keys them again, nor searches the session for objects
# they change (an ORM UPDATE does: a quarter of an answer's CPU); the one draft they change
# is told below.
_DRAFTS = table_of(Draft)
_SAVE_ANSWERS = (
    sa.update(_DRAFTS)
    .where(_DRAFTS.c.id == sa.bindparam("draft_id"), _DRAFTS.c.case_id.is_(None))
    .values(answers=sa.bindparam("new_answers"), updated_at=sa.bindparam("now"))
)
_MARK_SUBMITTED = (
    sa.update(_DRAFTS)
    .where(_DRAFTS.c.id == sa.bindparam("draft_id"), _DRAFTS.c.case_id.is_(None))
    .values(case_id=sa.bindparam("new_case_id"))
)


def save_answers(session: Session, draft: Draft, answers: Answers, now: datetime) -> bool:
    """Store answers unless the draft was submitted meanwhile (then nothing changes)."""
    result = run(session, _SAVE_ANSWERS, {"draft_id": draft.id, "new_answers": answers, "now": now})
    if rowcount(result) == 1:
        # What the row now holds, without the session taking it for a change to write.
        set_committed_value(draft, "answers", answers)
        set_committed_value(draft, "updated_at", now)
        return True
    return False


def mark_submitted(session: Session, draft: Draft, case: Case) -> bool:
    """Link the draft to its case, once: a second submission of the same draft loses here."""
    result = run(session, _MARK_SUBMITTED, {"draft_id": draft.id, "new_case_id": case.id})
    if rowcount(result) == 1:
        set_committed_value(draft, "case_id", case.id)
        return True
    return False


def purge_stale_drafts(session: Session, untouched_since: datetime) -> int:
    """Delete drafts never submitted and not touched since then; submitted ones stay, as
    their done page is the receipt's way back."""
    result = session.execute(
        sa.delete(Draft).where(
            col(Draft.case_id).is_(None), col(Draft.updated_at) < untouched_since
        )
    )
    return rowcount(result)
