"""who made an artifact (project and user); a task's request and user in columns of
their own, out of its input

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:00:00
"""

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Where revisions before this one kept a task's request and user: a key of its input JSON.
ORIGIN = "_origin"
FIELDS = ("request_id", "user_id")
PAGE = 500  # tasks rewritten at a time: the table may be long (webhook deliveries)


def upgrade() -> None:
    # Artifacts made before this revision say nobody: their owner need not be who made
    # them (an administrator may make an artifact for another project).
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("created_by_project", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(length=255), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("user_id", sa.String(length=255), nullable=True))
    tasks = sa.table("tasks", *(sa.column(name) for name in ("id", "input", *FIELDS)))
    for task_id, text in _pages(tasks, tasks.c.input.like(f'%"{ORIGIN}"%')):
        task_input = json.loads(text)
        origin = task_input.pop(ORIGIN, None)
        if not isinstance(origin, dict):  # the text was in a value, not the key
            continue
        values: dict[str, Any] = {name: origin.get(name) for name in FIELDS}
        _rewrite(tasks, task_id, task_input, values)


def downgrade() -> None:
    tasks = sa.table("tasks", *(sa.column(name) for name in ("id", "input", *FIELDS)))
    known = sa.or_(*(tasks.c[name].is_not(None) for name in FIELDS))
    for task_id, text, *values in _pages(tasks, known, *FIELDS):
        origin = {name: value for name, value in zip(FIELDS, values, strict=True) if value}
        _rewrite(tasks, task_id, json.loads(text) | {ORIGIN: origin}, {})
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("user_id")
        batch.drop_column("request_id")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("created_by")
        batch.drop_column("created_by_project")


def _pages(
    tasks: sa.TableClause, where: sa.ColumnElement[bool], *extra: str
) -> Iterator[tuple[Any, ...]]:
    """The matching tasks' rows, a page at a time in the order of their ids, so that the
    table is never held whole in memory."""
    connection = op.get_bind()
    after = ""
    while True:
        rows = connection.execute(
            sa.select(tasks.c.id, tasks.c.input, *(tasks.c[name] for name in extra))
            .where(where, tasks.c.id > after)
            .order_by(tasks.c.id)
            .limit(PAGE)
        ).all()
        yield from (tuple(row) for row in rows)
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _rewrite(
    tasks: sa.TableClause, task_id: str, task_input: dict[str, Any], values: dict[str, Any]
) -> None:
    op.get_bind().execute(
        sa.update(tasks).where(tasks.c.id == task_id).values(input=json.dumps(task_input), **values)
    )
