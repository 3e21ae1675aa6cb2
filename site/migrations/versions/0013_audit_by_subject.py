"""A person's audit events newest first, from one index: (subject_id, at, id)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:40:00

The staff person page (SPEC 12.3) shows the latest audit events about a person. With an index
on subject_id alone, each look-up reads every event about that person and sorts them; every
staff view of a person is itself such an event, so a person viewed often (and a register
with years of sign-ins) makes that page slower with each view. Ordered by (at, id) after the
person, the newest come first from the index, the LIMIT stops the read, and nothing is
sorted. It replaces the single-column index, which it starts with.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index("ix_auditevent_subject_id")
        batch_op.create_index("ix_auditevent_subject_at", ["subject_id", "at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_index("ix_auditevent_subject_at")
        batch_op.create_index("ix_auditevent_subject_id", ["subject_id"], unique=False)
