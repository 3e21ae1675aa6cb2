"""Workspace departure batches (SPEC 10.4, 10.5): one row per batch, one per person in it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:15:00

The reason CHECK is written out, not imported: a migration keeps meaning what it meant.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REASONS = (
    "reason IN ('left_city', 'moved_out', 'left_job', 'left_school', 'checked_out', 'other')"
)


def upgrade() -> None:
    op.create_table(
        "departurebatch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("roster", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("reason_detail", sa.String(length=200), nullable=True),
        sa.Column("leave_date", sa.Date(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint(REASONS, name=op.f("ck_departurebatch_reason")),
        sa.CheckConstraint(
            "source IN ('roster', 'upload')", name=op.f("ck_departurebatch_source")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["person.id"], name=op.f("fk_departurebatch_owner_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departurebatch")),
        sa.UniqueConstraint("token", name=op.f("uq_departurebatch_token")),
    )
    with op.batch_alter_table("departurebatch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_departurebatch_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "departureentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("leave_date", sa.Date(), nullable=True),
        sa.Column("date_as_written", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("reason_detail", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=30), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(REASONS, name=op.f("ck_departureentry_reason")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["departurebatch.id"],
            name=op.f("fk_departureentry_batch_id_departurebatch"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_departureentry_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_departureentry_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departureentry")),
        sa.UniqueConstraint("batch_id", "person_id", name="uq_departureentry_batch_person"),
        sa.UniqueConstraint("case_id", name=op.f("uq_departureentry_case_id")),
    )
    with op.batch_alter_table("departureentry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_departureentry_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_departureentry_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("departureentry")
    op.drop_table("departurebatch")
