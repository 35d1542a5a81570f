"""package names owned by projects; failed uploads let go of their file names

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from lading.services.name_rules import key, skeleton

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
phase = "expand"

NAMESPACE = "packages"


def upgrade() -> None:
    op.create_table(
        "package_names",
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("skeleton", sa.String(length=1024), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name=op.f("pk_package_names")),
    )
    op.create_index(
        op.f("ix_package_names_namespace_skeleton"), "package_names", ["namespace", "skeleton"]
    )
    op.create_index(op.f("ix_package_names_owner"), "package_names", ["owner"])
    op.create_table(
        "package_name_publishers",
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace", "key"],
            ["package_names.namespace", "package_names.key"],
            name=op.f("fk_package_name_publishers_namespace_package_names"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "namespace", "key", "project", name=op.f("pk_package_name_publishers")
        ),
    )
    op.create_index(
        op.f("ix_package_name_publishers_project"), "package_name_publishers", ["project"]
    )
    connection = op.get_bind()
    # An upload that failed or was cut off held its file name for good: it never had data
    # (no checksum), so no URL ever served it. It lets go.
    connection.execute(
        sa.text(
            "UPDATE artifacts SET filename = NULL WHERE filename IS NOT NULL "
            "AND checksum IS NULL AND status IN ('deleted', 'killed')"
        )
    )
    # Every name a package has: the project with its oldest version owns it, live versions
    # before deleted ones. `lading db check` lists the names other projects publish under.
    packages = connection.execute(
        sa.text(
            "SELECT name, owner, created_at FROM artifacts "
            "WHERE filename IS NOT NULL AND name IS NOT NULL "
            "ORDER BY CASE WHEN status = 'deleted' THEN 1 ELSE 0 END, created_at, id"
        ).columns(created_at=sa.DateTime())
    ).all()
    owned: dict[str, dict[str, object]] = {}
    for name, owner, created_at in packages:
        owned.setdefault(
            key(name),
            {"namespace": NAMESPACE, "key": key(name), "name": name, "skeleton": skeleton(name),
             "owner": owner, "created_at": created_at},
        )  # fmt: skip
    if owned:
        table = sa.table(
            "package_names",
            *(sa.column(column) for column in ("namespace", "key", "name", "skeleton", "owner")),
            sa.column("created_at", sa.DateTime()),
        )
        connection.execute(sa.insert(table), list(owned.values()))


def downgrade() -> None:
    op.drop_table("package_name_publishers")
    op.drop_table("package_names")
