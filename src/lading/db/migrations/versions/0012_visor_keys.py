"""visor_keys: VISoR's access keys, their secrets sealed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "visor_keys",
        sa.Column("access_key", sa.String(32), primary_key=True),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("description", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("visor_keys")
