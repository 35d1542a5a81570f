"""container disk layers: the digest of each image's layer as a KubeVirt container disk,
worked out once

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-06 13:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "container_disk_layers",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("layout", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_container_disk_layers_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_container_disk_layers")),
    )


def downgrade() -> None:
    op.drop_table("container_disk_layers")
