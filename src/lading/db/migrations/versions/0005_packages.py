"""package versions in order, files inside packages, task events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from lading.version_order import version_key

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("version_key", sa.LargeBinary(length=1024), nullable=True))
        batch.create_index(
            op.f("ix_artifacts_name_version_key"), ["name", "version_key"], unique=False
        )
    connection = op.get_bind()
    versioned = connection.execute(
        sa.text("SELECT id, version FROM artifacts WHERE version IS NOT NULL")
    ).all()
    for artifact_id, version in versioned:
        connection.execute(
            sa.text("UPDATE artifacts SET version_key = :key WHERE id = :id"),
            {"key": version_key(version), "id": artifact_id},
        )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("events", sa.Text(), nullable=True))
    op.create_table(
        "package_files",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data_offset", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("target", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_package_files_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", "path", name=op.f("pk_package_files")),
    )


def downgrade() -> None:
    op.drop_table("package_files")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("events")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index(op.f("ix_artifacts_name_version_key"))
        batch.drop_column("version_key")
