"""The holder's side (issue 13): objections, the verification log, sign-ins, the reminder
ladder's kinds, and per-person time indexes on cases

Revision ID: 0009
Revises: 0003
Create Date: 2026-12-01 22:10:00

Values are written out here, not imported from epermit.vocabulary: a migration must keep
meaning what it meant when it was written.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None

OBJECTION_STATUSES = "status IN ('pending', 'restored', 'upheld')"
DECISION_WHOLE = (
    "(status = 'pending' AND decided_at IS NULL AND decision_note IS NULL"
    " AND decided_by IS NULL)"
    " OR (status <> 'pending' AND decided_at IS NOT NULL"
    " AND decision_note IS NOT NULL AND decided_by IS NOT NULL)"
)
REMINDER_KINDS = "kind IN ('window', 'expiring', 'suspended')"
DEVICE_KINDS = (
    "device IN ('android_phone', 'iphone', 'tablet', 'computer', 'mini_program', 'other')"
)


def upgrade() -> None:
    op.create_table(
        "objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deregistration_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("statement", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("filed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(OBJECTION_STATUSES, name=op.f("ck_objection_status")),
        sa.CheckConstraint(DECISION_WHOLE, name=op.f("ck_objection_decision_whole")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_record.id"], name=op.f("fk_objection_case_id_case_record")
        ),
        sa.ForeignKeyConstraint(
            ["deregistration_id"],
            ["deregistration.id"],
            name=op.f("fk_objection_deregistration_id_deregistration"),
        ),
        sa.ForeignKeyConstraint(
            ["permit_id"], ["permit.id"], name=op.f("fk_objection_permit_id_permit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection")),
        sa.UniqueConstraint("case_id", name=op.f("uq_objection_case_id")),
        sa.UniqueConstraint("deregistration_id", name=op.f("uq_objection_deregistration_id")),
    )
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objection_permit_id"), ["permit_id"], unique=False)
        batch_op.create_index(
            "ix_objection_status_filed_at", ["status", "filed_at"], unique=False
        )

    op.create_table(
        "verification_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["permit_id"], ["permit.id"], name=op.f("fk_verification_event_permit_id_permit")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_verification_event_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_event")),
    )
    with op.batch_alter_table("verification_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_verification_event_person_time", ["person_id", "checked_at", "id"], unique=False
        )

    op.create_table(
        "sign_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("signed_in_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.CheckConstraint(DEVICE_KINDS, name=op.f("ck_sign_in_device")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_sign_in_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in")),
    )
    with op.batch_alter_table("sign_in", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sign_in_person_time", ["person_id", "signed_in_at", "id"], unique=False
        )

    # Reminders sent before the ladder were all of the one kind there was: `window`.
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="window",
            )
        )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.alter_column("kind", server_default=None)
        batch_op.drop_constraint("uq_reminder_permit_period", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_permit_period_kind", ["permit_id", "period", "kind"]
        )
        batch_op.create_check_constraint("kind", REMINDER_KINDS)

    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_record_applicant_time", ["applicant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_case_record_agent_time", ["agent_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_index("ix_case_record_agent_time")
        batch_op.drop_index("ix_case_record_applicant_time")
    # Only one reminder per permit and period fits the old key: the window's.
    op.execute("DELETE FROM reminder WHERE kind <> 'window'")
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_reminder_kind"), type_="check")
        batch_op.drop_constraint("uq_reminder_permit_period_kind", type_="unique")
        batch_op.create_unique_constraint("uq_reminder_permit_period", ["permit_id", "period"])
        batch_op.drop_column("kind")
    op.drop_table("sign_in")
    op.drop_table("verification_event")
    op.drop_table("objection")
