"""tasks tried again later (webhook deliveries) wait until not_before; expired tasks are
found by an index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(), nullable=True))
        batch.create_index(batch.f("ix_tasks_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index(batch.f("ix_tasks_expires_at"))
        batch.drop_column("not_before")
