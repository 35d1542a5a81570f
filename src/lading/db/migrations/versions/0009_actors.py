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
phase = "expand"

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
    for page in _pages(tasks, tasks.c.input.like(f'%"{ORIGIN}"%')):
        moved = []
        for task_id, text in page:
            task_input = json.loads(text)
            origin = task_input.pop(ORIGIN, None)
            if isinstance(origin, dict):  # else the text was in a value, not the key
                request_id, user_id = origin.get("request_id"), origin.get("user_id")
                moved.append(_changed(task_id, task_input, request_id, user_id))
        _rewrite(tasks, moved)


def downgrade() -> None:
    tasks = sa.table("tasks", *(sa.column(name) for name in ("id", "input", *FIELDS)))
    known = sa.or_(*(tasks.c[name].is_not(None) for name in FIELDS))
    for page in _pages(tasks, known, *FIELDS):
        moved = []
        for task_id, text, *values in page:
            origin = {name: value for name, value in zip(FIELDS, values, strict=True) if value}
            moved.append(_changed(task_id, json.loads(text) | {ORIGIN: origin}, None, None))
        _rewrite(tasks, moved)
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("user_id")
        batch.drop_column("request_id")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("created_by")
        batch.drop_column("created_by_project")


def _pages(
    tasks: sa.TableClause, where: sa.ColumnElement[bool], *extra: str
) -> Iterator[list[tuple[Any, ...]]]:
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
        if rows:
            yield [tuple(row) for row in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _changed(
    task_id: str, task_input: dict[str, Any], request_id: str | None, user_id: str | None
) -> dict[str, Any]:
    return {"task_id": task_id, "new_input": json.dumps(task_input),
            "new_request_id": request_id, "new_user_id": user_id}  # fmt: skip


def _rewrite(tasks: sa.TableClause, changed: list[dict[str, Any]]) -> None:
    """A page's tasks rewritten in one statement (executemany: one round trip)."""
    if changed:
        op.get_bind().execute(
            sa.update(tasks)
            .where(tasks.c.id == sa.bindparam("task_id"))
            .values(
                input=sa.bindparam("new_input"),
                request_id=sa.bindparam("new_request_id"),
                user_id=sa.bindparam("new_user_id"),
            ),
            changed,
        )
