"""The wizard engine on its own (epermit.wizard): small wizards declared here, no Flask, no
database. One test per engine feature, as hmpo-form-wizard has one spec per feature."""

from __future__ import annotations

from typing import Any

import pytest
from wtforms import Form, RadioField, StringField

from epermit import wizard as engine
from epermit.vocabulary import CaseKind


class PlainForm(Form):
    """A WTForms form that takes `today` as the app's forms do, without Flask."""

    def __init__(self, *args: Any, today: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class PetForm(PlainForm):
    has_pet = RadioField("您有宠物吗？", choices=[("yes", "有"), ("no", "没有")])


class NameForm(PlainForm):
    pet_name = StringField("宠物的名字")


class ColourForm(PlainForm):
    colour = RadioField("颜色", choices=[("red", "红"), ("blue", "蓝")])


def has_pet(answers: engine.Answers) -> bool:
    return answers.get("pet", {}).get("has_pet") == "yes"


def never_blocked(ctx: engine.StepContext) -> engine.Block | None:
    return None


def no_submit(ctx: engine.StepContext) -> Any:
    raise AssertionError("not submitted in these tests")


def declare(*steps: engine.Step, **overrides: Any) -> engine.Wizard:
    fields: dict[str, Any] = {
        "name": "pets",
        "title": "宠物登记",
        "case_kind": CaseKind.MOVE,
        "steps": steps,
        "check_form": PlainForm,
        "blocked": never_blocked,
        "submit": no_submit,
        "outcomes": {"done": engine.Outcome("登记", "已登记")},
        "action": "登记",
    }
    return engine.Wizard(**{**fields, **overrides})


PETS = declare(
    engine.Step("pet", PetForm, invalidates=("name",)),
    engine.Step("name", NameForm, applies=has_pet),
    engine.Step("colour", ColourForm),
)


def test_next_step_is_the_first_applicable_unanswered_one():
    assert PETS.next_step({}) == "pet"
    assert PETS.next_step({"pet": {"has_pet": "no"}}) == "colour"
    assert PETS.next_step({"pet": {"has_pet": "yes"}}) == "name"
    answered = {"pet": {"has_pet": "no"}, "colour": {"colour": "red"}}
    assert PETS.next_step(answered) == engine.CHECK


def test_no_skipping_ahead():
    assert engine.route(PETS, {}, "colour", submitted=False, block=None) == engine.Redirect("pet")
    assert engine.route(PETS, {}, engine.CHECK, submitted=False, block=None) == engine.Redirect(
        "pet"
    )
    # A step that does not apply cannot be opened at all.
    no_pet = {"pet": {"has_pet": "no"}}
    assert engine.route(PETS, no_pet, "name", submitted=False, block=None) == engine.Redirect(
        "colour"
    )
    assert engine.route(PETS, no_pet, "colour", submitted=False, block=None) == engine.Show(
        "colour"
    )


def test_changing_an_answer_drops_what_depended_on_it():
    answers = {"pet": {"has_pet": "yes"}, "name": {"pet_name": "旺财"}, "colour": {"colour": "red"}}
    changed = PETS.with_answer(answers, "pet", {"has_pet": "no"})
    assert changed == {"pet": {"has_pet": "no"}, "colour": {"colour": "red"}}
    # The same answer again changes nothing and drops nothing.
    assert PETS.with_answer(answers, "pet", {"has_pet": "yes"}) == answers


def test_answers_to_steps_that_no_longer_apply_are_dropped_and_private_facts_kept():
    answers = {"_defaults": {"member": "7"}, "pet": {"has_pet": "yes"}, "name": {"pet_name": "a"}}
    wizard = declare(
        engine.Step("pet", PetForm),  # no invalidates: `applies` alone drops the name
        engine.Step("name", NameForm, applies=has_pet),
    )
    assert wizard.with_answer(answers, "pet", {"has_pet": "no"}) == {
        "_defaults": {"member": "7"},
        "pet": {"has_pet": "no"},
    }


def test_back_goes_to_the_previous_applicable_step_or_leaves_the_wizard():
    no_pet = {"pet": {"has_pet": "no"}, "colour": {"colour": "red"}}
    assert engine.back(PETS, no_pet, "colour", changing=False) == "pet"
    assert engine.back(PETS, no_pet, engine.CHECK, changing=False) == "colour"
    assert engine.back(PETS, no_pet, "pet", changing=False) is None


def test_edit_from_check_answers_returns_there_asking_any_new_question_first():
    done = {"pet": {"has_pet": "no"}, "colour": {"colour": "red"}}
    assert engine.back(PETS, done, "pet", changing=True) == engine.CHECK
    # Changed to "yes": the name is now needed and asked before check answers.
    changed = PETS.with_answer(done, "pet", {"has_pet": "yes"})
    assert engine.after_answer(PETS, changed, None) == "name"
    named = PETS.with_answer(changed, "name", {"pet_name": "旺财"})
    assert engine.after_answer(PETS, named, None) == engine.CHECK


def test_a_block_sends_later_steps_to_the_stop_page_and_keeps_earlier_ones_open():
    answers = {"pet": {"has_pet": "no"}}
    block = engine.Block("no_pets_allowed", "pet")
    assert engine.after_answer(PETS, answers, block) == engine.STOP
    route = engine.route(PETS, answers, "colour", submitted=False, block=block)
    assert route == engine.Redirect(engine.STOP)
    assert engine.route(PETS, answers, "pet", submitted=False, block=block) == engine.Show("pet")
    assert engine.route(PETS, answers, engine.STOP, submitted=False, block=block) == engine.Show(
        engine.STOP
    )
    assert engine.stop_back(PETS, block) == "pet"
    # Without a block the stop page sends the journey on.
    assert engine.route(PETS, answers, engine.STOP, submitted=False, block=None) == (
        engine.Redirect("colour")
    )


def test_a_submitted_draft_leads_only_to_its_receipt():
    for page in ("pet", "colour", engine.CHECK, engine.STOP):
        assert engine.route(PETS, {}, page, submitted=True, block=None) == engine.Redirect(
            engine.DONE
        )
    assert engine.route(PETS, {}, engine.DONE, submitted=True, block=None) == engine.Show(
        engine.DONE
    )
    # Not yet submitted: done is not a page to open.
    assert engine.route(PETS, {}, engine.DONE, submitted=False, block=None) == engine.Redirect(
        "pet"
    )


def test_check_answers_rows_come_from_the_forms_with_each_choice_in_words():
    class Ctx:
        answers = {"pet": {"has_pet": "yes"}, "name": {"pet_name": "旺财"}, "colour": {}}
        today = None

    rows = engine.check_rows(PETS, Ctx())
    assert rows == [
        engine.Row("您有宠物吗？", "有", "pet"),
        engine.Row("宠物的名字", "旺财", "name"),
    ]


def test_a_step_overrides_its_rows_and_where_they_are_changed():
    def rows(ctx: Any, form: Any, data: dict[str, Any]) -> engine.Pairs:
        return [("颜色代码", data["colour"].upper())]

    wizard = declare(
        engine.Step("pet", PetForm),
        engine.Step("colour", ColourForm, rows=rows, change_at="pet"),
    )

    class Ctx:
        answers = {"pet": {"has_pet": "no"}, "colour": {"colour": "red"}}
        today = None

    assert engine.check_rows(wizard, Ctx())[-1] == engine.Row("颜色代码", "RED", "pet")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        pytest.param((), "at least one step", id="no-steps"),
        pytest.param(
            (engine.Step("a", PetForm), engine.Step("a", NameForm)), "repeat", id="repeated"
        ),
        pytest.param((engine.Step("check", PetForm),), "reserved", id="reserved-name"),
        pytest.param(
            (engine.Step("a", PetForm, invalidates=("nope",)),), "no step 'nope'", id="invalidates"
        ),
        pytest.param(
            (engine.Step("a", PetForm, change_at="nope"),), "no step 'nope'", id="change-at"
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_when_built(steps, message):
    with pytest.raises(engine.InvalidWizard, match=message):
        declare(*steps)


def test_the_reference_prefix_follows_the_case_kind():
    assert PETS.reference_prefix == "BG"


class BreedForm(PlainForm):
    """A step that searches on its own page: its choices come from the page's query."""

    breed = RadioField("品种", choices=[])

    def setup(self, ctx: engine.StepContext) -> None:
        q = ctx.query.get("q", "")
        self.breed.choices = [
            (name, name) for name in ("柴犬", "柯基", "田园犬") if q and q in name
        ]


def test_a_steps_form_finds_its_choices_from_the_pages_query_which_is_never_stored():
    wizard = declare(engine.Step("breed", BreedForm))
    ctx = engine.StepContext(
        session=None,
        acting=type("A", (), {"today": None})(),
        draft=type("D", (), {"answers": {}})(),
        settings={},
        query={"q": "犬"},
    )
    form = engine.stored_form(wizard.steps[0], ctx, {})
    assert [value for value, _ in form.breed.choices] == ["柴犬", "田园犬"]
    answered = wizard.with_answer(ctx.answers, "breed", {"breed": "柴犬"})
    assert answered == {"breed": {"breed": "柴犬"}}
    # Without a query the same step offers nothing to choose: the search is the page's own.
    plain = engine.StepContext(
        session=None,
        acting=type("A", (), {"today": None})(),
        draft=type("D", (), {"answers": answered})(),
        settings={},
    )
    assert engine.stored_form(wizard.steps[0], plain).breed.choices == []
