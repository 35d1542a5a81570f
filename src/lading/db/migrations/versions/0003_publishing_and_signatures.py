"""package file names, publishing, nonces of signed requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
phase = "contract"  # the unique index on artifacts could refuse an older node's writes


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("filename", sa.String(length=255), nullable=True))
        batch.create_index(
            "uq_artifacts_package",
            ["filename", "name", "version"],
            unique=True,
            sqlite_where=sa.text("filename IS NOT NULL"),
            postgresql_where=sa.text("filename IS NOT NULL"),
        )
    # Until now only the Glance face created artifacts, and it publishes by default.
    op.execute(sa.text("UPDATE artifacts SET published = true"))
    op.create_table(
        "signed_nonces",
        sa.Column("client", sa.String(length=255), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client", "nonce", name=op.f("pk_signed_nonces")),
    )
    op.create_index(
        op.f("ix_signed_nonces_expires_at"), "signed_nonces", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_signed_nonces_expires_at"), table_name="signed_nonces")
    op.drop_table("signed_nonces")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index("uq_artifacts_package")
        batch.drop_column("filename")
