"""holders: the server processes that write uploads and blobs, alive while they beat

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "holders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started", sa.String(length=32), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holders")),
    )
    # Uploads and blobs written before this revision have no holder: the stuck bound
    # (upload_stuck_after) still recovers them.
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("upload_holder", sa.String(length=32), nullable=True))
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("holder", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("holder")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("upload_holder")
    op.drop_table("holders")
