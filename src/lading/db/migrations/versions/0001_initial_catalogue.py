"""initial catalogue

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:53:26.032856
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("os_hidden", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disk_format", sa.String(length=32), nullable=True),
        sa.Column("container_format", sa.String(length=32), nullable=True),
        sa.Column("min_disk", sa.Integer(), nullable=False),
        sa.Column("min_ram", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("virtual_size", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=32), nullable=True),
        sa.Column("os_hash_algo", sa.String(length=64), nullable=True),
        sa.Column("os_hash_value", sa.String(length=128), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("upload_lease", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_checksum"), ["checksum"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_artifacts_created_at_id"), ["created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_artifacts_name_id"), ["name", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_artifacts_os_hash_value"), ["os_hash_value"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_artifacts_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifacts_size_id"), ["size", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_artifacts_status_lease_expires_at"),
            ["status", "lease_expires_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_artifacts_updated_at_id"), ["updated_at", "id"], unique=False
        )

    op.create_table(
        "blobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("refcount", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
        sa.UniqueConstraint("store", "key", name=op.f("uq_blobs_store_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blobs_state_updated_at"), ["state", "updated_at"], unique=False
        )
        batch_op.create_index(
            "uq_blobs_store_sha256_ready",
            ["store", "sha256"],
            unique=True,
            sqlite_where=sa.text("state = 'ready'"),
            postgresql_where=sa.text("state = 'ready'"),
        )

    op.create_table(
        "artifact_properties",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_artifact_properties_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", "name", name=op.f("pk_artifact_properties")),
    )
    # As in models.py: a B-tree on (name, value) where entries have no size limit, and on
    # PostgreSQL a B-tree on name plus a hash index on value.
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(op.f("ix_artifact_properties_name"), "artifact_properties", ["name"])
        op.create_index(
            "ix_artifact_properties_value_hash",
            "artifact_properties",
            ["value"],
            postgresql_using="hash",
        )
    else:
        op.create_index(
            op.f("ix_artifact_properties_name_value"), "artifact_properties", ["name", "value"]
        )

    op.create_table(
        "artifact_tags",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_artifact_tags_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", "tag", name=op.f("pk_artifact_tags")),
    )
    with op.batch_alter_table("artifact_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifact_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "locations",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_locations_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"], name=op.f("fk_locations_blob_id_blobs")),
        sa.PrimaryKeyConstraint("artifact_id", "blob_id", name=op.f("pk_locations")),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_locations_blob_id"), ["blob_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_locations_blob_id"))

    op.drop_table("locations")
    with op.batch_alter_table("artifact_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_tags_tag"))

    op.drop_table("artifact_tags")
    op.drop_table("artifact_properties")  # its indices go with it
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_blobs_store_sha256_ready",
            sqlite_where=sa.text("state = 'ready'"),
            postgresql_where=sa.text("state = 'ready'"),
        )
        batch_op.drop_index(batch_op.f("ix_blobs_state_updated_at"))

    op.drop_table("blobs")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_updated_at_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_status_lease_expires_at"))
        batch_op.drop_index(batch_op.f("ix_artifacts_size_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_owner"))
        batch_op.drop_index(batch_op.f("ix_artifacts_os_hash_value"))
        batch_op.drop_index(batch_op.f("ix_artifacts_name_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_artifacts_checksum"))

    op.drop_table("artifacts")
