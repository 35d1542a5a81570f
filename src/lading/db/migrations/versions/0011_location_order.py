"""locations: their order and their metadata, as Glance's clients set them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    # Locations made before this revision have no position: they sort first, by store,
    # as they always did.
    with op.batch_alter_table("locations") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("locations") as batch:
        batch.drop_column("metadata")
        batch.drop_column("position")
