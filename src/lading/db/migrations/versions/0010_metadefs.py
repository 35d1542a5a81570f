"""metadefs: Glance's metadata definitions (namespaces, their items, resource types)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:40:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
phase = "expand"

# The resource types Glance's own definitions associate with (Horizon asks for these by
# name); more are made when a namespace is first associated with another.
RESOURCE_TYPES = (
    "OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Aggregate",
    "OS::Nova::Server", "OS::Trove::Instance", "OS::Glance::Metadef",
)  # fmt: skip


def _times() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def _namespace_key(table: str) -> sa.Column[str]:
    return sa.Column(
        "namespace",
        sa.String(length=80),
        sa.ForeignKey(
            "metadef_namespaces.namespace",
            name=op.f(f"fk_{table}_namespace_metadef_namespaces"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("namespace", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("namespace", name=op.f("pk_metadef_namespaces")),
    )
    op.create_index(
        op.f("ix_metadef_namespaces_owner"), "metadef_namespaces", ["owner"], unique=False
    )
    op.create_table(
        "metadef_items",
        _namespace_key("metadef_items"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("namespace", "kind", "name", name=op.f("pk_metadef_items")),
    )
    resource_types = op.create_table(
        "metadef_resource_types",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metadef_resource_types")),
    )
    op.create_table(
        "metadef_associations",
        _namespace_key("metadef_associations"),
        sa.Column(
            "resource_type",
            sa.String(length=80),
            sa.ForeignKey(
                "metadef_resource_types.name",
                name=op.f("fk_metadef_associations_resource_type_metadef_resource_types"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(length=80), nullable=True),
        sa.Column("properties_target", sa.String(length=80), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint("namespace", "resource_type", name=op.f("pk_metadef_associations")),
    )
    moment = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        resource_types,
        [
            {"name": name, "protected": True, "created_at": moment, "updated_at": moment}
            for name in RESOURCE_TYPES
        ],
    )


def downgrade() -> None:
    op.drop_table("metadef_associations")
    op.drop_table("metadef_resource_types")
    op.drop_table("metadef_items")
    op.drop_index(op.f("ix_metadef_namespaces_owner"), table_name="metadef_namespaces")
    op.drop_table("metadef_namespaces")
