"""python package index: indexes made through the API, the files of every index and
each project's serial

Revision ID: 0018
Revises: 0014
Create Date: 2026-12-06 13:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "pypi_indexes",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("bases", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pypi_indexes")),
    )
    op.create_table(
        "pypi_projects",
        sa.Column("index_name", sa.String(length=32), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("index_name", "project", name=op.f("pk_pypi_projects")),
    )
    op.create_table(
        "pypi_files",
        sa.Column("index_name", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("filetype", sa.String(length=16), nullable=False),
        sa.Column("python_version", sa.String(length=64), nullable=False),
        sa.Column("requires_python", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("blob_id", sa.Integer(), nullable=False),
        sa.Column("core_metadata", sa.LargeBinary(), nullable=True),
        sa.Column("core_metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
        sa.Column("uploader", sa.String(length=255), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_pypi_files_blob_id_blobs")
        ),
        sa.PrimaryKeyConstraint("index_name", "filename", name=op.f("pk_pypi_files")),
    )
    with op.batch_alter_table("pypi_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pypi_files_blob_id"), ["blob_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pypi_files_index_name_project"), ["index_name", "project"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pypi_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pypi_files_index_name_project"))
        batch_op.drop_index(batch_op.f("ix_pypi_files_blob_id"))
    op.drop_table("pypi_files")
    op.drop_table("pypi_projects")
    op.drop_table("pypi_indexes")
