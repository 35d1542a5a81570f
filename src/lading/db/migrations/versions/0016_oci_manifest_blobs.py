"""oci registry: the blobs each manifest names, for garbage collection (filled from the
manifests kept so far)

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06 13:50:02.118305
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None
phase = "expand"

# As the registry parsed them when they were put (frozen here: a migration does not follow
# the code): an image manifest names its config and its layers, but those kept elsewhere.
IMAGE_MANIFESTS = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
FOREIGN_LAYERS = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)


def upgrade() -> None:
    table = op.create_table(
        "oci_manifest_blobs",
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("manifest", sa.String(length=71), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository", "manifest"],
            ["oci_manifests.repository", "oci_manifests.digest"],
            name=op.f("fk_oci_manifest_blobs_repository_oci_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "repository", "manifest", "digest", name=op.f("pk_oci_manifest_blobs")
        ),
    )
    with op.batch_alter_table("oci_manifest_blobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oci_manifest_blobs_repository_digest"),
            ["repository", "digest"],
            unique=False,
        )
    manifests = sa.table(
        "oci_manifests",
        sa.column("repository", sa.String),
        sa.column("digest", sa.String),
        sa.column("media_type", sa.String),
        sa.column("content", sa.LargeBinary),
    )
    connection = op.get_bind()
    found = connection.execute(
        sa.select(manifests.c.repository, manifests.c.digest, manifests.c.content).where(
            manifests.c.media_type.in_(IMAGE_MANIFESTS)
        )
    ).all()  # the registry is new: few manifests, each capped (oci.manifest_size_cap)
    for repository, manifest, content in found:
        document = json.loads(bytes(content))
        named = {document["config"]["digest"]}
        named.update(
            layer["digest"]
            for layer in document["layers"]
            if layer.get("mediaType") not in FOREIGN_LAYERS
        )
        rows = [{"repository": repository, "manifest": manifest, "digest": d} for d in named]
        op.bulk_insert(table, rows)


def downgrade() -> None:
    with op.batch_alter_table("oci_manifest_blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oci_manifest_blobs_repository_digest"))
    op.drop_table("oci_manifest_blobs")
