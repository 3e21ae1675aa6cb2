"""permit.registered_since: since when the permit is registered at its current address

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:10:00

Rosters (SPEC 10.2) list "registered since" and a change of address (SPEC 9) moves it while
the permit's issue date and continuity stay; existing permits were registered when issued.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registered_since", sa.Date(), nullable=True))
    op.execute("UPDATE permit SET registered_since = issue_date")
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.alter_column("registered_since", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("permit", schema=None) as batch_op:
        batch_op.drop_column("registered_since")
