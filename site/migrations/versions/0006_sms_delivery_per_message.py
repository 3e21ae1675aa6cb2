"""sms outbox: delivery per message (attempts, back-off, dead letters) and template keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:10:00

Messages queued before this revision have no attempts and no next attempt: they are due at
once, as they were.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("smsoutbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(
            sa.Column("dead_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_smsoutbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("smsoutbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smsoutbox_next_attempt_at"))
        batch_op.drop_column("dead_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("params")
        batch_op.drop_column("template")
