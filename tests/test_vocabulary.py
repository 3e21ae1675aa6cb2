"""One vocabulary per domain enum: the database CHECKs, form choices and reference prefixes
all derive from epermit.vocabulary, so none can drift from another."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa

from epermit import forms, vocabulary
from epermit.models import (
    Case,
    Deregistration,
    FamilyLink,
    Objection,
    Organisation,
    Reminder,
    SignIn,
)
from epermit.vocabulary import (
    CaseKind,
    DeclarantRole,
    DeviceKind,
    ObjectionDecision,
    ObjectionStatus,
    Reason,
    Relationship,
    ReminderKind,
)

MIGRATION = Path(__file__).parents[1] / "site/migrations/versions/0003_vocabulary_checks.py"


def checks_of(model: type) -> set[str]:
    table = model.__table__  # type: ignore[attr-defined]
    return {str(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint)}


def test_the_latest_migration_writes_the_checks_the_models_derive():
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.CASE_KINDS in checks_of(Case)
    assert {migration.ROLES, migration.REASONS} <= checks_of(Deregistration)


def test_checks_list_every_value_of_their_vocabulary():
    assert vocabulary.sql_in("relationship", Relationship) in checks_of(FamilyLink)
    assert vocabulary.sql_in("kind", vocabulary.OrganisationKind) in checks_of(Organisation)
    assert "kind IN ('endorse', 'deregister', 'move', 'objection')" in checks_of(Case)


def test_form_choices_offer_every_value_in_the_vocabularys_order():
    assert [value for value, _ in forms.RELATIONSHIPS] == [r.value for r in Relationship]
    assert [value for value, _ in forms.DECLARANT_ROLES] == [r.value for r in DeclarantRole]
    assert [value for value, _ in forms.REASONS] == [r.value for r in Reason]
    assert all(words for _, words in forms.RELATIONSHIPS + forms.DECLARANT_ROLES + forms.REASONS)


def test_every_case_kind_has_its_own_reference_prefix():
    prefixes = [vocabulary.REFERENCE_PREFIXES[kind] for kind in CaseKind]
    assert prefixes == ["QZ", "ZX", "BG", "YY"]


def test_organisation_roles_are_the_organisation_kinds():
    assert [role.value for role in vocabulary.ORGANISATION_ROLES] == ["employer", "school", "hotel"]


def test_the_holder_side_migration_writes_the_checks_the_models_derive():
    path = MIGRATION.with_name("0009_holder_side.py")
    spec = importlib.util.spec_from_file_location("migration_0009", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert {migration.OBJECTION_STATUSES, migration.DECISION_WHOLE} <= checks_of(Objection)
    assert migration.REMINDER_KINDS in checks_of(Reminder)
    assert migration.DEVICE_KINDS in checks_of(SignIn)
    assert migration.OBJECTION_STATUSES == vocabulary.sql_in("status", ObjectionStatus)
    assert migration.REMINDER_KINDS == vocabulary.sql_in("kind", ReminderKind)
    assert migration.DEVICE_KINDS == vocabulary.sql_in("device", DeviceKind)


def test_every_decision_ends_in_a_decided_status():
    assert set(vocabulary.DECISION_STATUS) == set(ObjectionDecision)
    assert set(vocabulary.DECISION_STATUS.values()) == set(ObjectionStatus) - {
        ObjectionStatus.PENDING
    }
