"""One step engine for both wizards (SPEC 4.1; STYLE: hmpo-form-wizard).

A wizard is data: an ordered tuple of steps, each with the condition under which it applies,
the form that asks it, and the answers it makes stale when it changes. The engine derives from
the answers alone which steps apply, which may be opened (no skipping ahead), where "back"
goes, and what comes next; after an edit from check-answers, "next" is the first applicable
question still unanswered, which is check-answers itself when none is.

Nothing here knows Flask: views/_wizard.py turns a Wizard into routes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, select

from epermit.models import Case, Draft, Person

if TYPE_CHECKING:  # the engine itself knows nothing of Flask, only the type
    from epermit.extensions import Budget

Answers = dict[str, dict[str, Any]]
CHECK = "check"
DONE = "done"
STOP = "stop"


@dataclass
class StepContext:
    """What a step's hooks may use: the database, who acts, today, and the draft so far."""

    session: Session
    actor: Person
    today: date
    now: datetime
    draft: Draft
    settings: Mapping[str, Any]
    client_address: str | None = None
    # Facts a wizard works out once per request and reads on several hooks.
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def answers(self) -> Answers:
        return self.draft.answers


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


@dataclass(frozen=True)
class Row:
    """One line of check answers: what was asked, the answer, and the step to change it."""

    label: str
    value: str
    step: str


@dataclass(frozen=True)
class Limit:
    budget: Budget  # tries against one budget are shared, whichever step or page made them
    field: str  # the field the refusal is shown next to


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
    # How often one person, or one client address, may submit the step: for steps that look
    # people up by name and ID number (or send them an SMS), which must not become a way to
    # test guesses against the register.
    limit: Limit | None = None


@dataclass(frozen=True)
class Wizard:
    name: str
    steps: tuple[Step, ...]
    check_form: type
    # Whether the answers so far already rule out finishing online, and why.
    blocked: Callable[[StepContext], Block | None]
    # Create the case from the answers; called once, inside the request's transaction.
    submit: Callable[[StepContext], Case]
    # The check-answers rows.
    summary: Callable[[StepContext], list[Row]]
    # Facts every page of the wizard may show (whose permit, what the outcome would be).
    outlook: Callable[[StepContext], dict[str, Any]] = lambda ctx: {}

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def applicable(self, answers: Answers) -> list[Step]:
        return [s for s in self.steps if s.applies(answers)]

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
        order = [s.name for s in self.applicable(answers)]
        if name not in order:
            return False
        return all(earlier in answers for earlier in order[: order.index(name)])

    def previous(self, answers: Answers, name: str) -> str | None:
        order = [s.name for s in self.applicable(answers)] + [CHECK]
        if name not in order or order.index(name) == 0:
            return None
        return order[order.index(name) - 1]

    def with_answer(self, answers: Answers, name: str, data: dict[str, Any]) -> Answers:
        """New answers after `name` is answered with `data`: dependants of a changed answer
        are dropped, and so are answers to steps that no longer apply."""
        updated = {k: v for k, v in answers.items() if k.startswith("_") or k != name}
        step = self.step(name)
        assert step is not None
        if answers.get(name) != data:
            for dependant in step.invalidates:
                updated.pop(dependant, None)
        updated[name] = data
        applicable = {s.name for s in self.applicable(updated)}
        return {k: v for k, v in updated.items() if k.startswith("_") or k in applicable}


def new_draft(
    session: Session, wizard: Wizard, owner_id: int, now: datetime, defaults: dict[str, Any]
) -> Draft:
    draft = Draft(
        id=secrets.token_urlsafe(18),
        wizard=wizard.name,
        owner_id=owner_id,
        answers={"_defaults": defaults},
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    return draft


def load_draft(session: Session, wizard: Wizard, draft_id: str, owner_id: int) -> Draft | None:
    """A draft of this wizard belonging to this person; anyone else's is as if absent."""
    draft = session.get(Draft, draft_id)
    if draft is None or draft.wizard != wizard.name or draft.owner_id != owner_id:
        return None
    return draft


def save_answers(session: Session, draft: Draft, answers: Answers, now: datetime) -> bool:
    """Store answers unless the draft was submitted meanwhile (then nothing changes)."""
    result = session.execute(
        sa.update(Draft)
        .where(Draft.id == draft.id, Draft.case_id.is_(None))  # type: ignore[union-attr]
        .values(answers=answers, updated_at=now)
    )
    if result.rowcount == 1:
        draft.answers = answers
        draft.updated_at = now
        return True
    return False


def mark_submitted(session: Session, draft: Draft, case: Case) -> bool:
    """Link the draft to its case, once: a second submission of the same draft loses here."""
    result = session.execute(
        sa.update(Draft)
        .where(Draft.id == draft.id, Draft.case_id.is_(None))  # type: ignore[union-attr]
        .values(case_id=case.id)
    )
    if result.rowcount == 1:
        draft.case_id = case.id
        return True
    return False


def purge_stale_drafts(session: Session, untouched_since: datetime) -> int:
    """Delete drafts never submitted and not touched since then; submitted ones stay, as
    their done page is the receipt's way back."""
    result = session.execute(
        sa.delete(Draft).where(
            Draft.case_id.is_(None),  # type: ignore[union-attr]
            Draft.updated_at < untouched_since,  # type: ignore[arg-type]
        )
    )
    return result.rowcount


def case_of(session: Session, draft: Draft) -> Case | None:
    if draft.case_id is None:
        return None
    return session.exec(select(Case).where(Case.id == draft.case_id)).first()
