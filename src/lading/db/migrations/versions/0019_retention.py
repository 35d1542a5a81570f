"""retention: policies, the steps retention took per artifact, and each artifact's last
download

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-06 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("last_downloaded_at", sa.DateTime(), nullable=True))
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("keep_newest", sa.Integer(), nullable=True),
        sa.Column("keep_younger_days", sa.Integer(), nullable=True),
        sa.Column("keep_downloaded_days", sa.Integer(), nullable=True),
        sa.Column("hide_after_days", sa.Integer(), nullable=False),
        sa.Column("deactivate_after_days", sa.Integer(), nullable=False),
        sa.Column("delete_after_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policies")),
    )
    op.create_index(
        op.f("ix_retention_policies_project"), "retention_policies", ["project"], unique=False
    )
    op.create_table(
        "retention_marks",
        sa.Column("artifact_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("step_at", sa.DateTime(), nullable=False),
        sa.Column("hid", sa.Boolean(), nullable=False),
        sa.Column("deactivated", sa.Boolean(), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_retention_marks_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_retention_marks")),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
    op.drop_index(op.f("ix_retention_policies_project"), table_name="retention_policies")
    op.drop_table("retention_policies")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("last_downloaded_at")
