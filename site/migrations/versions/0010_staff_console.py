"""Staff console (SPEC 12): staff accounts, staff in audit events, void marks on
deregistrations, and the date indexes the statistics read

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:10:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("totp_secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("last_totp_step", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('officer', 'supervisor')", name=op.f("ck_staff_role")),
        sa.CheckConstraint(
            "role = 'supervisor' OR district IS NOT NULL", name=op.f("ck_staff_district")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("number", name=op.f("uq_staff_number")),
    )
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_auditevent_staff_id"), ["staff_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_auditevent_staff_id_staff"), "staff", ["staff_id"], ["id"]
        )
    with op.batch_alter_table("deregistration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("void_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.add_column(sa.Column("restored_permit_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deregistration_voided_by_staff"), "staff", ["voided_by"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_deregistration_restored_permit_id_permit"),
            "permit",
            ["restored_permit_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_deregistration_declared_at"), ["declared_at"], unique=False
        )
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_objection_decided_by_staff"), "staff", ["decided_by"], ["id"]
        )
        batch_op.create_index("ix_objection_decided_at", ["decided_at"], unique=False)
    with op.batch_alter_table("endorsement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_endorsement_endorsed_on"), ["endorsed_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("objection", schema=None) as batch_op:
        batch_op.drop_index("ix_objection_decided_at")
        batch_op.drop_constraint(batch_op.f("fk_objection_decided_by_staff"), type_="foreignkey")
    with op.batch_alter_table("endorsement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_endorsement_endorsed_on"))
    with op.batch_alter_table("deregistration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deregistration_declared_at"))
        batch_op.drop_constraint(
            batch_op.f("fk_deregistration_restored_permit_id_permit"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_deregistration_voided_by_staff"), type_="foreignkey")
        batch_op.drop_column("restored_permit_id")
        batch_op.drop_column("void_note")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("voided_at")
    with op.batch_alter_table("auditevent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_auditevent_staff_id_staff"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_auditevent_staff_id"))
        batch_op.drop_column("staff_id")
    op.drop_table("staff")
