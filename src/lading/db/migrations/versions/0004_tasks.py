"""tasks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
phase = "expand"


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("artifact_id", sa.String(length=36), nullable=True),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    for columns in (["status", "lease_expires_at"], ["artifact_id", "created_at"],
                    ["owner", "created_at"]):  # fmt: skip
        op.create_index(op.f(f"ix_tasks_{'_'.join(columns)}"), "tasks", columns, unique=False)


def downgrade() -> None:
    for columns in (["status", "lease_expires_at"], ["artifact_id", "created_at"],
                    ["owner", "created_at"]):  # fmt: skip
        op.drop_index(op.f(f"ix_tasks_{'_'.join(columns)}"), table_name="tasks")
    op.drop_table("tasks")
