"""Staff statistics from one index per kind of event: the district on each event row

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:40:00

Endorsements, deregistrations, objections and changes of address carry the district they are
counted in, written when they happen, and an index on (day, district, kind) that answers a
range of days by itself: statistics (SPEC 12.5) no longer join every event to its permit and
address (2.4 s for a month of the city at 10 million permits).

Existing rows are filled set-based with where the permit was registered at the time: the
address a later change of address moved it from, else the address it has now. A change of
address is counted in the district it moves to; an objection where its deregistration was.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _registered_at(table: str, moment: str) -> str:
    """The district `table`'s permit was registered in at `moment` (a SQL expression)."""
    return (
        "COALESCE("
        "(SELECT a.district FROM registrationhistory h JOIN address a ON a.id = h.from_address_id"
        f" WHERE h.permit_id = {table}.permit_id AND h.confirmed_at > {moment}"
        " ORDER BY h.confirmed_at, h.id LIMIT 1),"
        "(SELECT a.district FROM permit p JOIN address a ON a.id = p.address_id"
        f" WHERE p.id = {table}.permit_id))"
    )


BACKFILL = (
    (
        "endorsement",
        "UPDATE endorsement SET district = "
        + _registered_at(
            "endorsement",
            "(SELECT c.created_at FROM case_record c WHERE c.id = endorsement.case_id)",
        ),
    ),
    (
        "deregistration",
        "UPDATE deregistration SET district = "
        + _registered_at("deregistration", "deregistration.declared_at"),
    ),
    (
        "objection",
        "UPDATE objection SET district = (SELECT d.district FROM deregistration d"
        " WHERE d.id = objection.deregistration_id)",
    ),
    (
        "addresschange",
        "UPDATE addresschange SET district = (SELECT a.district FROM address a"
        " WHERE a.id = addresschange.to_address_id)",
    ),
)

# (table, the index the statistics read until now, the new one's columns)
INDEXES = (
    ("endorsement", "ix_endorsement_endorsed_on", ["endorsed_on", "district", "late"]),
    (
        "deregistration",
        "ix_deregistration_declared_at",
        ["declared_at", "district", "declarant_role"],
    ),
    ("objection", "ix_objection_decided_at", ["decided_at", "district", "status"]),
    ("addresschange", None, ["decided_at", "district", "state"]),
)


def upgrade() -> None:
    for table, _ in BACKFILL:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
            )
    for _, update in BACKFILL:
        op.execute(update)
    for table, old_index, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "district",
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
            )
            if old_index is not None:
                batch_op.drop_index(old_index)
            batch_op.create_index(f"ix_{table}_stats", columns, unique=False)


def downgrade() -> None:
    for table, old_index, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_stats")
            if old_index is not None:
                batch_op.create_index(old_index, [columns[0]], unique=False)
            batch_op.drop_column("district")
