"""python package index: the names of deleted files, never taken again (PyPI's rule)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 14:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "pypi_burned_files",
        sa.Column("index_name", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("index_name", "filename", name=op.f("pk_pypi_burned_files")),
    )


def downgrade() -> None:
    op.drop_table("pypi_burned_files")
