"""``lading retention``: policies that keep storage in check, their plan, and their runs
(docs/retention.md), over a server's API as the other client commands."""

from __future__ import annotations

import json
from typing import Any

import click

from lading.cli.artifacts import echo_table
from lading.cli.remote import remote_command
from lading.client import Client
from lading.display import human_size

PROJECT = click.option(
    "--project", help="Another project's (administrators; without it, theirs are all)."
)
JSON = click.option("--json", "as_json", is_flag=True, help="The server's JSON answer.")


@click.group()
def retention() -> None:
    """Retention: policies that hide, deactivate and then delete what no rule keeps."""


@retention.group()
def policy() -> None:
    """A project's retention policies."""


@policy.command("create")
@click.option("--pattern", default="*", show_default=True, help="A glob over names.")
@click.option("--kind", type=click.Choice(["any", "image", "package"]), default="any",
              show_default=True)  # fmt: skip
@click.option("--keep-newest", type=click.IntRange(1), help="Keep the newest N versions per name.")
@click.option("--keep-younger-days", type=click.IntRange(1), help="Keep what is younger.")
@click.option("--keep-downloaded-days", type=click.IntRange(1),
              help="Keep what was downloaded within.")  # fmt: skip
@click.option("--hide-after-days", type=click.IntRange(0), help="Grace before hiding (0).")
@click.option("--deactivate-after-days", type=click.IntRange(0),
              help="Grace from hidden to deactivated (7).")  # fmt: skip
@click.option("--delete-after-days", type=click.IntRange(0),
              help="Grace from deactivated to deleted (7).")  # fmt: skip
@click.option("--project", help="Another project's (administrators).")
@remote_command
def create(client: Client, **options: Any) -> None:
    """Make a policy; prints its id. At least one --keep-* rule."""
    fields = {name: value for name, value in options.items() if value is not None}
    click.echo(client.create_retention_policy(**fields)["id"])


@policy.command("list")
@PROJECT
@JSON
@remote_command
def list_(client: Client, project: str | None, as_json: bool) -> None:
    """Your project's policies (every project's, for an administrator)."""
    found = client.retention_policies(project)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    headers = ["ID", "PROJECT", "PATTERN", "KIND", "KEEP", "HIDE/DEACTIVATE/DELETE AFTER"]
    echo_table(headers, [_policy_row(found_policy) for found_policy in found])


@policy.command("delete")
@click.argument("policy_id")
@remote_command
def delete(client: Client, policy_id: str) -> None:
    """Delete POLICY_ID; the next run restores what it alone was retiring."""
    client.delete_retention_policy(policy_id)
    click.echo(f"deleted {policy_id}")


@retention.command()
@PROJECT
@click.option("--limit", type=click.IntRange(0), help="Steps shown at most (1000).")
@JSON
@remote_command
def plan(client: Client, project: str | None, limit: int | None, as_json: bool) -> None:
    """What the policies would do, changing nothing: each artifact's next step and when,
    and the bytes each policy frees."""
    found = client.retention_plan(project, limit)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    echo_table(
        ["ARTIFACT", "NAME", "VERSION", "SIZE", "NEXT", "DUE", "FREES"],
        [_step_row(step) for step in found["steps"]],
    )
    shown, total = len(found["steps"]), found["steps_total"]
    more = f" ({total - shown} more not shown)" if total > shown else ""
    click.echo(f"{total} artifacts{more}; {human_size(found['frees_bytes'])} freed once deleted")
    for summary in found["policies"]:
        click.echo(
            f"policy {summary['id']} ({summary['project']}, {summary['pattern']}): retires "
            f"{summary['retires']}, frees {human_size(summary['frees_bytes'])}"
        )


@retention.command()
@PROJECT
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the run to end and print what it did.")  # fmt: skip
@remote_command
def apply(client: Client, project: str | None, wait: bool) -> None:
    """Take the steps that are due, as a task; prints what the run did (or its id)."""
    task = client.retention_run(project)
    if not wait:
        click.echo(task.id)
        return
    done = client.wait(task.id)
    click.echo(done.message)
    click.echo(json.dumps(done.result, indent=2))


def _policy_row(found: dict[str, Any]) -> list[str]:
    rules = [
        f"newest {found['keep_newest']}" if found["keep_newest"] else "",
        f"younger {found['keep_younger_days']}d" if found["keep_younger_days"] else "",
        f"downloaded {found['keep_downloaded_days']}d" if found["keep_downloaded_days"] else "",
    ]
    graces = (f"{found['hide_after_days']}d/{found['deactivate_after_days']}d/"
              f"{found['delete_after_days']}d")  # fmt: skip
    return [found["id"], found["project"], found["pattern"], found["kind"],
            ",".join(rule for rule in rules if rule), graces]  # fmt: skip


def _step_row(step: dict[str, Any]) -> list[str]:
    size = "-" if step["size"] is None else human_size(step["size"])
    return [step["image_id"], step["name"] or "-", step["version"] or "-", size, step["action"],
            step["due_at"], human_size(step["frees_bytes"])]  # fmt: skip
