"""resumable uploads (tus): uploads in progress, their offsets and their parts; the
registry's chunked uploads claimed by the request writing a chunk

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "tus_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("artifact_id", sa.String(length=36), nullable=True),
        sa.Column("made_artifact", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("writer", sa.String(length=32), nullable=True),
        sa.Column("writer_holder", sa.String(length=32), nullable=True),
        sa.Column("writer_until", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tus_uploads")),
    )
    with op.batch_alter_table("tus_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tus_uploads_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "tus_upload_parts",
        sa.Column("upload_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["tus_uploads.id"],
            name=op.f("fk_tus_upload_parts_upload_id_tus_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "number", name=op.f("pk_tus_upload_parts")),
    )
    with op.batch_alter_table("oci_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writer", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("writer_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oci_uploads", schema=None) as batch_op:
        batch_op.drop_column("writer_until")
        batch_op.drop_column("writer")
    op.drop_table("tus_upload_parts")
    with op.batch_alter_table("tus_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tus_uploads_expires_at"))

    op.drop_table("tus_uploads")
