"""package_images: the images an onboarded OSM package brought, linked to it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "package_images",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_package_images_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["artifacts.id"],
            name=op.f("fk_package_images_image_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", "path", name=op.f("pk_package_images")),
    )
    op.create_index(
        op.f("ix_package_images_image_id"), "package_images", ["image_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_package_images_image_id"), table_name="package_images")
    op.drop_table("package_images")
