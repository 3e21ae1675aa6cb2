"""Checks from epermit.vocabulary: every case kind of SPEC 4.6, declarant roles and reasons

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00

The values are written out here, not imported: a migration must keep meaning what it meant
when it was written, whatever the vocabulary later becomes.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CASE_KINDS_BEFORE = "kind IN ('endorse', 'deregister')"
CASE_KINDS = "kind IN ('endorse', 'deregister', 'move', 'objection')"
ROLES = "declarant_role IN ('self', 'family', 'landlord', 'employer', 'school', 'hotel')"
REASONS = (
    "reason IN ('left_city', 'moved_out', 'left_job', 'left_school', 'checked_out', 'other')"
)


def upgrade() -> None:
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_record_kind"), type_="check")
        batch_op.create_check_constraint("kind", CASE_KINDS)
    with op.batch_alter_table("deregistration", schema=None) as batch_op:
        batch_op.create_check_constraint("declarant_role", ROLES)
        batch_op.create_check_constraint("reason", REASONS)


def downgrade() -> None:
    with op.batch_alter_table("deregistration", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_deregistration_reason"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_deregistration_declarant_role"), type_="check")
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_case_record_kind"), type_="check")
        batch_op.create_check_constraint("kind", CASE_KINDS_BEFORE)
