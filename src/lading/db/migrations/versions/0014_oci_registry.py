"""oci registry: repositories (names of the "oci" namespace), their blob links,
manifests, tags and uploads in progress

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:34:40.446807
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "oci_repositories",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_oci_repositories")),
    )
    op.create_table(
        "oci_blob_links",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_oci_blob_links_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["repository"],
            ["oci_repositories.name"],
            name=op.f("fk_oci_blob_links_repository_oci_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "digest", name=op.f("pk_oci_blob_links")),
    )
    with op.batch_alter_table("oci_blob_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oci_blob_links_blob_id"), ["blob_id"], unique=False)

    op.create_table(
        "oci_manifests",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=71), nullable=True),
        sa.Column("artifact_type", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository"],
            ["oci_repositories.name"],
            name=op.f("fk_oci_manifests_repository_oci_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "digest", name=op.f("pk_oci_manifests")),
    )
    with op.batch_alter_table("oci_manifests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oci_manifests_repository_subject"),
            ["repository", "subject"],
            unique=False,
        )

    op.create_table(
        "oci_tags",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository"],
            ["oci_repositories.name"],
            name=op.f("fk_oci_tags_repository_oci_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository", "tag", name=op.f("pk_oci_tags")),
    )
    op.create_table(
        "oci_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oci_uploads")),
    )
    with op.batch_alter_table("oci_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oci_uploads_repository"), ["repository"], unique=False)

    op.create_table(
        "oci_upload_parts",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"],
            ["blobs.id"],
            name=op.f("fk_oci_upload_parts_blob_id_blobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["oci_uploads.id"],
            name=op.f("fk_oci_upload_parts_upload_id_oci_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "number", name=op.f("pk_oci_upload_parts")),
    )


def downgrade() -> None:
    op.drop_table("oci_upload_parts")
    with op.batch_alter_table("oci_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oci_uploads_repository"))

    op.drop_table("oci_uploads")
    op.drop_table("oci_tags")
    with op.batch_alter_table("oci_manifests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oci_manifests_repository_subject"))

    op.drop_table("oci_manifests")
    with op.batch_alter_table("oci_blob_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oci_blob_links_blob_id"))

    op.drop_table("oci_blob_links")
    op.drop_table("oci_repositories")
