"""migration_phases: each applied migration's phase, for nodes of an older release

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 17:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    # Filled by lading.db.engine after each upgrade, from the migrations' own ``phase``.
    op.create_table(
        "migration_phases",
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_migration_phases")),
    )


def downgrade() -> None:
    op.drop_table("migration_phases")
