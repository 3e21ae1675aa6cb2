"""Reminder runs read only what is due (SPEC 13): the sent-reminder key leads with the
period, the permits' valid-until index carries what a run filters on, and a sent reminder
no longer locks its permit

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:40:00

A run walks the permits whose valid-until falls in the ladder's windows, in valid-until
order. With the sent-reminder key (period, kind, permit_id) its look-ups, and a first run's
inserts, stay within the few periods being walked instead of landing anywhere in a table
that only grows; with (valid_until, is_current, person_id) the walk never reads a permit's
row. The uniqueness is the same three columns as before.

The foreign key from reminder to permit goes: PostgreSQL checks it row by row with a
SELECT … FOR KEY SHARE of the permit, which for a first run of a day at 10 million permits
locked (and so rewrote) the row of every one of some 900,000 permits due, a third of the
run's time. A reminder is only ever written by the run itself, from the permit rows it reads
in the same statement, and permits are never deleted: the key guarded nothing.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_constraint("fk_reminder_permit_id_permit", type_="foreignkey")
        batch_op.drop_constraint("uq_reminder_permit_period_kind", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_period_kind_permit", ["period", "kind", "permit_id"]
        )
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_valid_until")
        batch_op.create_index(
            "ix_permit_valid_until_current_person",
            ["valid_until", "is_current", "person_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_index("ix_permit_valid_until_current_person")
        batch_op.create_index("ix_permit_valid_until", ["valid_until"], unique=False)
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reminder_period_kind_permit", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_permit_period_kind", ["permit_id", "period", "kind"]
        )
        batch_op.create_foreign_key("fk_reminder_permit_id_permit", "permit", ["permit_id"], ["id"])
