"""Alembic environment: runs on the connection that ``Database.upgrade`` passes in."""

from alembic import context

from lading.db.models import for_dialect, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    include_object=for_dialect(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
