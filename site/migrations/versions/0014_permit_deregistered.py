"""A permit says whether it is deregistered, and an organisation's roster is read from an
index of its own

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:10:00

A roster page (SPEC 10.3) shows the people of a place whose current permit is not
deregistered. Asking the deregistrations meant one probe of their permit key per person on
the roster, and that key deepens with every departure ever declared in the city: at 10
million permits it was most of what a roster page took beyond its time at 1 thousand (SPEC
13 allows 1.2x). `permit.deregistered` is set by the deregistration service in the same
transaction as the deregistration; a staff restore makes a new permit row, so it is never
cleared. Filled here from the deregistrations already recorded, in one statement.

With it, the permits on an employer's, school's or hotel's roster are one range of a partial
index (current, not deregistered, of that organisation) that holds what the roster reads of
each permit (PostgreSQL INCLUDE): a page reads a few index pages, not one permit row per
person wherever in the table it lies (an employer hires over years; its permits' rows are
spread over the whole register, and each deregistration writes a new version of the row).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


ROSTER_KINDS = ("employer", "school", "hotel")
ROSTER_COLUMNS = ["id", "person_id", "address_id", "registered_since"]


def upgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deregistered", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        "UPDATE permit SET deregistered = TRUE"
        " WHERE id IN (SELECT permit_id FROM deregistration)"
    )
    with op.batch_alter_table("permit", schema=None) as batch_op:
        for kind in ROSTER_KINDS:
            batch_op.create_index(
                f"ix_permit_roster_{kind}",
                [f"{kind}_id"],
                unique=False,
                postgresql_include=ROSTER_COLUMNS,
                postgresql_where=sa.text(
                    f"is_current AND NOT deregistered AND {kind}_id IS NOT NULL"
                ),
                sqlite_where=sa.text(
                    f"is_current = 1 AND deregistered = 0 AND {kind}_id IS NOT NULL"
                ),
            )


def downgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        for kind in ROSTER_KINDS:
            batch_op.drop_index(f"ix_permit_roster_{kind}")
        batch_op.drop_column("deregistered")
