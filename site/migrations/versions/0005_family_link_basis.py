"""familylink.basis: on what agreement each family link was made (SPEC 2.9)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:10:00

Links made before agreement was required are migrated by what their audit event recorded:
a minor or elder added by name and ID number alone becomes `direct` (so it can no longer
deregister online), every other link `consented` (an SMS code from the member, or, as for the
demo's parents, made by the register). The values are written out here, not imported: a
migration must keep meaning what it meant when it was written.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BASES = "basis IN ('consented', 'approved', 'direct')"


def upgrade() -> None:
    with op.batch_alter_table("familylink", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis", sa.String(length=10), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE familylink SET basis = 'consented'"))
    # The audit detail is JSON; read in Python so the same code runs on both databases.
    added = bind.execute(
        sa.text(
            "SELECT actor_id, subject_id, detail FROM auditevent"
            " WHERE action = 'family_member_added'"
        )
    ).all()
    for actor_id, subject_id, detail in added:
        recorded = detail if isinstance(detail, dict) else json.loads(detail or "{}")
        if recorded.get("basis") == "name_and_id":
            bind.execute(
                sa.text(
                    "UPDATE familylink SET basis = 'direct'"
                    " WHERE person_id = :owner AND member_id = :member"
                ),
                {"owner": actor_id, "member": subject_id},
            )
    with op.batch_alter_table("familylink", schema=None) as batch_op:
        batch_op.alter_column("basis", existing_type=sa.String(length=10), nullable=False)
        batch_op.create_check_constraint("basis", BASES)


def downgrade() -> None:
    with op.batch_alter_table("familylink", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_familylink_basis"), type_="check")
        batch_op.drop_column("basis")
