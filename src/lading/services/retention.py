"""Retention: each project's policies that keep its storage in check, the plan of what they
would do, and the runs that do it, step by step (docs/retention.md).

A policy covers the artifacts with data (``active``, ``deactivated``) of its project whose
name matches its glob (and kind: image, package or any), and holds *keep* rules: the
newest N versions of each name (images: the newest N by creation), those younger than
D days, those downloaded within D days. An artifact is retired when at least one policy
covers it and no rule of any policy that covers it keeps it: the rules of every policy
covering an artifact are or-ed together, so adding a policy can only keep more. Nothing
retires what is protected, tagged ``retention.keep_tag``, downloaded within
``retention.in_use_days`` (an image a node boots from) or brought by a live package.

A retired artifact goes through three steps, each after its grace (the longest of its
policies'): hidden (``os_hidden``) ``hide_after_days`` after retention first saw it,
deactivated ``deactivate_after_days`` after that, deleted ``delete_after_days`` after
that. What retention did is marked per artifact (``retention_marks``): the step reached,
when, and whether retention itself hid and deactivated it. An artifact kept again before
its delete (downloaded, tagged, protected, a policy changed or gone) is restored: what
retention did is undone, and only that. Someone who undoes a step by hand (shows the
artifact again, reactivates it) starts its course over: the way to keep it is the tag.

Each step is one transaction with its events, and looks again at what keeps an artifact
whatever the policies say (it may have changed since the plan was made).
"""

from __future__ import annotations

import fnmatch
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from lading.clock import Clock, timestamp
from lading.db import retention as queries
from lading.db import tasks as task_queries
from lading.db.engine import Database
from lading.db.retention import Candidate, Mark, Step
from lading.domain import EventType, RetentionKind, RetentionPolicy, Status, Task
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.events import Events, Outbox
from lading.services.tasks import Progress, Tasks
from lading.settings import RetentionSettings

log = logging.getLogger(__name__)

TASK_TYPE = "retention"
NO_PROJECT = ""  # the owner of the recurring runs: the server's own
# The recurring run of a period has an id of its own: the first process to submit it
# wins, the others find it there.
RUNS = uuid.UUID("6c1f3b1e-4f7e-4d0c-9a51-2b7c2d1e0f19")
MAX_POLICIES = 100  # per project
MAX_DAYS = 36500
BATCH = 100  # artifacts whose steps are taken in one transaction (and between reports)
IDS_REPORTED = 1000  # ids a run's result lists per step, at most
RECLAIMABLE_TTL = 300.0  # seconds the metric's figure is kept before it is made again
RULES = ("keep_newest", "keep_younger_days", "keep_downloaded_days")
GRACES = ("hide_after_days", "deactivate_after_days", "delete_after_days")
DEFAULT_GRACES = {"hide_after_days": 0, "deactivate_after_days": 7, "delete_after_days": 7}
FIELDS = {"project", "pattern", "kind", *RULES, *GRACES}


class Action:
    """The next thing retention does to an artifact."""

    HIDE = "hide"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class Graces:
    hide: timedelta
    deactivate: timedelta
    delete: timedelta

    @classmethod
    def longest(cls, policies: Sequence[RetentionPolicy]) -> Graces:
        return cls(
            timedelta(days=max(policy.hide_after_days for policy in policies)),
            timedelta(days=max(policy.deactivate_after_days for policy in policies)),
            timedelta(days=max(policy.delete_after_days for policy in policies)),
        )


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """What retention does next to one artifact, and when."""

    artifact_id: str
    owner: str
    name: str | None
    version: str | None
    size: int | None
    action: str  # Action
    due_at: datetime
    reached: str | None  # the step retention took last (Step), None if none
    policies: tuple[str, ...]  # the policies that retire it (a restore: none)
    frees_bytes: int  # what deleting it frees (each stored object counted once)
    graces: Graces | None = None
    mark: Mark | None = None  # the course to go on with; None to start over
    seen: Mark | None = None  # the mark as the plan found it


@dataclass(frozen=True, slots=True)
class PolicySummary:
    policy: RetentionPolicy
    artifacts: int  # the artifacts it retires (credited to the oldest policy retiring them)
    frees_bytes: int


@dataclass(frozen=True, slots=True)
class Plan:
    made_at: datetime
    steps: list[PlannedStep]
    policies: list[PolicySummary]
    frees_bytes: int  # once every retired artifact is deleted


@dataclass(slots=True)
class RunReport:
    """What a run did."""

    hidden: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # kept at the last look (the step's own)
    freed_bytes: int = 0
    frees_bytes: int = 0  # the plan's figure at the start of the run

    def result(self) -> dict[str, Any]:
        steps = ("hidden", "deactivated", "deleted", "restored", "kept")
        counts = {name: len(getattr(self, name)) for name in steps}
        ids = {name: getattr(self, name)[:IDS_REPORTED] for name in steps}
        return {"counts": counts, **ids, "freed_bytes": self.freed_bytes,
                "planned_frees_bytes": self.frees_bytes}  # fmt: skip

    def summary(self) -> str:
        return (
            f"hid {len(self.hidden)}, deactivated {len(self.deactivated)}, deleted "
            f"{len(self.deleted)} ({self.freed_bytes} bytes freed), restored "
            f"{len(self.restored)}"
        )


class Retention:
    def __init__(
        self,
        settings: RetentionSettings,
        database: Database,
        catalogue: Catalogue,
        tasks: Tasks,
        outbox: Outbox,
        events: Events,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._catalogue = catalogue
        self._tasks = tasks
        self._outbox = outbox
        self._events = events
        self._clock = clock or Clock()
        self._reclaimable: tuple[float, int] | None = None  # (monotonic time, bytes)
        tasks.register(TASK_TYPE, self._run, attempts=1)

    # Policies

    async def create_policy(self, caller: Caller, fields: Mapping[str, Any]) -> RetentionPolicy:
        """A policy of ``fields["project"]`` (the caller's own project by default)."""
        caller.require("manage_retention")
        unknown = set(fields) - FIELDS
        if unknown:
            raise BadRequest(f"unknown fields {sorted(unknown)}; a policy takes {sorted(FIELDS)}")
        project = _project(caller, fields.get("project"))
        pattern = fields.get("pattern", "*")
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= 255:
            raise BadRequest("pattern is a glob of 1 to 255 characters over artifacts' names")
        try:
            kind = RetentionKind(fields.get("kind", RetentionKind.ANY.value))
        except ValueError:
            raise BadRequest(f"kind is one of {[kind.value for kind in RetentionKind]}") from None
        rules = {name: _number(fields, name, None, 1) for name in RULES}
        if all(value is None for value in rules.values()):
            raise BadRequest(
                f"a policy needs at least one keep rule ({', '.join(RULES)}): without, it "
                "would retire everything its pattern matches"
            )
        graces = {name: _number(fields, name, DEFAULT_GRACES[name], 0) for name in GRACES}
        policy = RetentionPolicy(
            id=str(uuid.uuid4()),
            project=project,
            pattern=pattern,
            kind=kind,
            created_at=self._clock.now(),
            **rules,  # type: ignore[arg-type]
            **graces,  # type: ignore[arg-type]
        )

        def insert(connection: Connection) -> bool:
            if len(queries.list_policies(connection, project)) >= MAX_POLICIES:
                return False
            queries.insert_policy(connection, policy)
            return True

        if not await self._database.write(insert):
            raise BadRequest(f"project {project} has {MAX_POLICIES} policies already")
        self._reclaimable = None
        return policy

    async def policies(self, caller: Caller, project: str | None = None) -> list[RetentionPolicy]:
        """The caller's project's policies; an administrator's: ``project``'s, or all."""
        caller.require("get_retention")
        return await self._database.read(queries.list_policies, _scope(caller, project))

    async def policy(self, caller: Caller, policy_id: str) -> RetentionPolicy:
        caller.require("get_retention")
        found = await self._database.read(queries.fetch_policy, policy_id)
        if found is None or not (caller.is_admin or found.project == caller.project):
            raise NotFound(f"no retention policy with id {policy_id}")
        return found

    async def delete_policy(self, caller: Caller, policy_id: str) -> None:
        """The policy goes; what it retired is restored by the next run (unless another
        policy retires it too)."""
        found = await self.policy(caller, policy_id)
        caller.require("manage_retention")
        if not await self._database.write(queries.delete_policy, found.id):
            raise NotFound(f"no retention policy with id {policy_id}")
        self._reclaimable = None

    # The plan

    async def plan_for(self, caller: Caller, project: str | None = None) -> Plan:
        """What the policies would do (the caller's project's; an administrator's:
        ``project``'s, or every project's). Changes nothing."""
        caller.require("get_retention")
        return await self.plan(_scope(caller, project))

    async def plan(self, project: str | None = None) -> Plan:
        """The plan of ``project``'s policies (None: every project's)."""
        now = self._clock.now()
        policies, found = await self._database.read(self._look, project)
        by_project: dict[str, list[RetentionPolicy]] = defaultdict(list)
        for policy in policies:
            by_project[policy.project].append(policy)
        retired = self._retired(by_project, found, now)
        steps: list[PlannedStep] = []
        for candidate in found:
            covering = retired.get(candidate.id)
            if covering is not None:
                steps.append(_next_step(candidate, covering, now))
            elif candidate.mark is not None:
                steps.append(_restore(candidate, now))
        steps = await self._with_frees(steps)
        credited: dict[str, list[PlannedStep]] = defaultdict(list)
        for step in steps:
            if step.policies:
                credited[step.policies[0]].append(step)
        summaries = [
            PolicySummary(
                policy,
                len(credited[policy.id]),
                sum(step.frees_bytes for step in credited[policy.id]),
            )
            for policy in policies
        ]
        return Plan(now, steps, summaries, sum(step.frees_bytes for step in steps))

    def _look(
        self, connection: Connection, project: str | None
    ) -> tuple[list[RetentionPolicy], list[Candidate]]:
        """The policies and what they look at, read in one transaction."""
        policies = queries.list_policies(connection, project)
        projects = {policy.project for policy in policies}
        if project is not None:
            projects.add(project)
        found = queries.candidates(connection, projects, self._settings.keep_tag, project is None)
        if project is not None:  # marks of the project's artifacts only
            found = [candidate for candidate in found if candidate.owner == project]
        return policies, found

    def _retired(
        self,
        by_project: Mapping[str, list[RetentionPolicy]],
        found: Sequence[Candidate],
        now: datetime,
    ) -> dict[str, list[RetentionPolicy]]:
        """The retired artifacts, each with the policies that cover it (oldest first)."""
        covering: dict[str, list[RetentionPolicy]] = {}
        members: dict[str, list[Candidate]] = defaultdict(list)  # policy id -> covered
        for candidate in found:
            matched = [
                policy
                for policy in by_project.get(candidate.owner, ())
                if _covers(policy, candidate)
            ]
            if matched:
                covering[candidate.id] = matched
                for policy in matched:
                    members[policy.id].append(candidate)
        newest: dict[str, set[str]] = {}
        for policy_list in by_project.values():
            for policy in policy_list:
                if policy.keep_newest is not None:
                    newest[policy.id] = _newest(members[policy.id], policy.keep_newest)
        in_use_since = now - timedelta(days=self._settings.in_use_days)
        retired: dict[str, list[RetentionPolicy]] = {}
        for candidate in found:
            policies = covering.get(candidate.id)
            if not policies or _guarded(candidate, in_use_since):
                continue
            kept = newest.get
            if any(_keeps(policy, candidate, kept(policy.id, set()), now) for policy in policies):
                continue
            retired[candidate.id] = policies
        return retired

    async def _with_frees(self, steps: list[PlannedStep]) -> list[PlannedStep]:
        """Each retired artifact with the bytes its delete frees: a stored object is freed
        when every reference to it (other artifacts', OCI repositories') goes with the
        retired artifacts; its bytes are counted once, for the first of them."""
        retiring = [step.artifact_id for step in steps if step.action != Action.RESTORE]
        found = await self._database.read(queries.shares, retiring)
        referrers: dict[int, list[str]] = defaultdict(list)
        sizes: dict[int, tuple[int, int]] = {}
        for share in found:
            referrers[share.blob_id].append(share.artifact_id)
            sizes[share.blob_id] = (share.size, share.refcount)
        frees: dict[str, int] = defaultdict(int)
        for blob_id, artifact_ids in referrers.items():
            size, refcount = sizes[blob_id]
            if refcount <= len(artifact_ids):
                frees[min(artifact_ids)] += size
        return [replace(step, frees_bytes=frees.get(step.artifact_id, 0)) for step in steps]

    async def reclaimable(self) -> int:
        """What every policy's plan would free, for the metric: made again at most every
        ``RECLAIMABLE_TTL`` seconds per process (a plan reads every covered artifact)."""
        cached = self._reclaimable
        if cached is not None and time.monotonic() - cached[0] < RECLAIMABLE_TTL:
            return cached[1]
        frees = (await self.plan()).frees_bytes
        self._reclaimable = (time.monotonic(), frees)
        return frees

    # Runs

    async def submit_run(
        self,
        caller: Caller,
        project: str | None = None,
        *,
        request_id: str | None = None,
    ) -> Task:
        """A run of the caller's project's policies (an administrator's: ``project``'s,
        or every project's), as a task."""
        caller.require("manage_retention")
        scope = _scope(caller, project)
        return await self._tasks.submit(
            caller.project, TASK_TYPE, {"project": scope}, request_id=request_id,
            user_id=caller.user,
        )  # fmt: skip

    async def submit_recurring(self) -> int:
        """The recurring run of this period (``run_every``), unless a process submitted it
        already; 1 when this one did."""
        every = self._settings.run_every
        if every is None:
            return 0
        period = int(self._clock.seconds() // every)
        task = self._tasks.new(NO_PROJECT, TASK_TYPE, {"project": None, "period": period})
        task = replace(task, id=str(uuid.uuid5(RUNS, f"{every}:{period}")))

        def insert(connection: Connection) -> bool:
            if task_queries.fetch_task(connection, task.id) is not None:
                return False
            try:
                with connection.begin_nested():
                    task_queries.insert_task(connection, task)
            except IntegrityError:  # another process, at the same moment
                return False
            return True

        return int(await self._database.write(insert))

    async def _run(self, task: Task, progress: Progress) -> dict[str, Any]:
        project = task.input.get("project")
        report = await self.apply(project if isinstance(project, str) else None, progress)
        await progress.report(0, None, report.summary())
        return report.result()

    async def apply(
        self, project: str | None = None, progress: Progress | None = None
    ) -> RunReport:
        """Take every step that is due in ``project``'s plan (None: every project's)."""
        await self._database.write(queries.forget_gone)
        plan = await self.plan(project)
        now = plan.made_at
        report = RunReport(frees_bytes=plan.frees_bytes)
        due = [step for step in plan.steps if step.due_at <= now or step.mark is None]
        restores = [step for step in due if step.action == Action.RESTORE]
        advances = [step for step in due if step.action != Action.RESTORE]
        looked_at = await self._reported(progress, 0, len(due))  # the plan took a while
        for batch in _batches(restores):
            await self._restore(batch, report)
            looked_at = await self._reported(progress, looked_at + len(batch), len(due))
        for batch in _batches(advances):
            for step in await self._advance(batch, now, report):
                await self._delete(step, report)
            looked_at = await self._reported(progress, looked_at + len(batch), len(due))
        self._reclaimable = None
        if any((report.hidden, report.deactivated, report.deleted, report.restored)):
            log.info("retention: %s", report.summary())
        return report

    async def _reported(self, progress: Progress | None, done: int, total: int) -> int:
        if progress is not None:
            await progress.report(0, None, f"{done} of {total} artifacts looked at")
        return done

    async def _advance(
        self, steps: Sequence[PlannedStep], now: datetime, report: RunReport
    ) -> list[PlannedStep]:
        """Take the due steps short of a delete of each artifact, in one transaction for
        the batch (a transaction per artifact cost 8 ms each on SQLite, mostly its sync),
        each artifact looked at again first; those whose delete is due now."""
        used_since = now - timedelta(days=self._settings.in_use_days)
        outcome: dict[str, list[str]] = {}

        def write(connection: Connection) -> list[PlannedStep]:
            outcome.clear()  # a write tried again starts over
            hidden, deactivated, kept = (outcome.setdefault(name, []) for name in
                                         ("hidden", "deactivated", "kept"))  # fmt: skip
            deleting: list[PlannedStep] = []
            for step in steps:
                if not queries.still_retirable(
                    connection, step.artifact_id, self._settings.keep_tag, used_since
                ):
                    kept.append(step.artifact_id)
                    continue
                action = self._take(connection, step, now)
                if action == Action.HIDE:
                    hidden.append(step.artifact_id)
                elif action == Action.DEACTIVATE:
                    hidden.extend([step.artifact_id] * (step.reached != Step.HIDDEN))
                    deactivated.append(step.artifact_id)
                elif action == Action.DELETE:
                    hidden.extend([step.artifact_id] * (step.reached not in HID))
                    deactivated.extend([step.artifact_id] * (step.reached != Step.DEACTIVATED))
                    deleting.append(step)
            return deleting

        deleting = await self._database.write(write)
        report.hidden += outcome["hidden"]
        report.deactivated += outcome["deactivated"]
        report.kept += outcome["kept"]
        return deleting

    def _take(self, connection: Connection, step: PlannedStep, now: datetime) -> str | None:
        """In the batch's transaction: the artifact's steps that are due, up to its
        delete; the last one taken (``Action.DELETE``: its delete is due), or None."""
        assert step.graces is not None
        graces, mark, taken = step.graces, step.mark, None
        if queries.mark_of(connection, step.artifact_id) != step.seen:
            return None  # another run took a step since the plan: the next run goes on
        if mark is None:  # retention begins (or, undone by hand, begins again) with it
            try:
                with connection.begin_nested():
                    queries.schedule(connection, step.artifact_id, step.policies[0], now, step.seen)
            except IntegrityError:  # another run began with it at this moment: its own
                return None
            mark = Mark(Step.SCHEDULED, now, False, False, step.policies[0])
        while True:
            action, due_at = _due(mark, graces)
            if due_at > now:
                return taken
            if action == Action.DELETE:
                return Action.DELETE
            if action == Action.HIDE:
                if queries.hide(connection, step.artifact_id, now):
                    self._outbox.record(
                        connection, EventType.ARTIFACT_UPDATED, step.artifact_id, None
                    )
                self._told(connection, EventType.RETENTION_HIDDEN, step,
                           (Action.DEACTIVATE, now + graces.deactivate))  # fmt: skip
                mark = replace(mark, step=Step.HIDDEN, step_at=now)
            else:
                if queries.deactivate(connection, step.artifact_id, now):
                    self._outbox.record(
                        connection, EventType.ARTIFACT_UPDATED, step.artifact_id, None
                    )
                self._told(connection, EventType.RETENTION_DEACTIVATED, step,
                           (Action.DELETE, now + graces.delete))  # fmt: skip
                mark = replace(mark, step=Step.DEACTIVATED, step_at=now)
            taken = action

    async def _delete(self, step: PlannedStep, report: RunReport) -> None:
        used_since = self._clock.now() - timedelta(days=self._settings.in_use_days)

        def still(connection: Connection) -> bool:
            return queries.still_retirable(
                connection, step.artifact_id, self._settings.keep_tag, used_since
            )

        def record(connection: Connection) -> None:
            queries.forget(connection, [step.artifact_id])
            self._told(connection, EventType.RETENTION_DELETED, step, None)

        freed = await self._catalogue.delete_retired(step.artifact_id, still, record)
        if freed is None:
            report.kept.append(step.artifact_id)
            return
        report.deleted.append(step.artifact_id)
        report.freed_bytes += freed

    async def _restore(self, steps: Sequence[PlannedStep], report: RunReport) -> None:
        """Undo what retention did to these artifacts, kept again, in one transaction."""
        now = self._clock.now()
        restored: list[str] = []

        def write(connection: Connection) -> None:
            restored.clear()  # a write tried again starts over
            for step in steps:
                current = queries.mark_of(connection, step.artifact_id)
                if current is None:  # another run was first
                    continue
                reactivated = current.deactivated and current.step == Step.DEACTIVATED
                if queries.restore(connection, step.artifact_id, current, now):
                    event = (
                        EventType.ARTIFACT_ACTIVATED if reactivated else EventType.ARTIFACT_UPDATED
                    )
                    self._outbox.record(connection, event, step.artifact_id, None)
                self._told(connection, EventType.RETENTION_RESTORED, step, None, current)
                restored.append(step.artifact_id)

        await self._database.write(write)
        report.restored += restored

    def _told(
        self,
        connection: Connection,
        event: EventType,
        step: PlannedStep,
        following: tuple[str, datetime] | None,
        undone: Mark | None = None,
    ) -> None:
        details: dict[str, Any] = {"policies": list(step.policies)}
        if following is not None:
            details["next"] = {"action": following[0], "due_at": timestamp(following[1])}
        if undone is not None:
            details["undone"] = {"hid": undone.hid, "deactivated": undone.deactivated}
        self._events.retention(connection, event, step.artifact_id, details)


HID = (Step.HIDDEN, Step.DEACTIVATED)  # steps after which the artifact is hidden


def _batches(steps: Sequence[PlannedStep]) -> list[Sequence[PlannedStep]]:
    return [steps[start : start + BATCH] for start in range(0, len(steps), BATCH)]


def _project(caller: Caller, project: object) -> str:
    """The project a caller acts on: its own, or (an administrator) any it names."""
    if project is None:
        return caller.project
    if not isinstance(project, str) or not 1 <= len(project) <= 255:
        raise BadRequest("project is a project id")
    if project != caller.project and not caller.is_admin:
        raise Forbidden("only administrators act on another project's retention")
    return project


def _scope(caller: Caller, project: str | None) -> str | None:
    """What a caller reads or runs: an administrator ``project`` or every project (None);
    anyone else its own project."""
    if caller.is_admin:
        return project
    return _project(caller, project)


def _number(fields: Mapping[str, Any], name: str, default: int | None, least: int) -> int | None:
    """A rule (``default`` None: it may be null, and is then no rule) or a grace."""
    value = fields.get(name, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_DAYS:
        null = ", or null" if default is None else ""
        raise BadRequest(f"{name} is a whole number from {least} to {MAX_DAYS}{null}")
    return value


def _covers(policy: RetentionPolicy, candidate: Candidate) -> bool:
    if policy.kind is RetentionKind.IMAGE and candidate.is_package:
        return False
    if policy.kind is RetentionKind.PACKAGE and not candidate.is_package:
        return False
    return fnmatch.fnmatchcase(candidate.name or "", policy.pattern)


def _newest(covered: Sequence[Candidate], count: int) -> set[str]:
    """The ids of the newest ``count`` versions of each name: every artifact of the
    newest ``count`` distinct versions (a version's several files are one version);
    without a version, the newest ``count`` by creation."""
    by_name: dict[str | None, list[Candidate]] = defaultdict(list)
    for candidate in covered:
        by_name[candidate.name].append(candidate)
    kept: set[str] = set()
    for group in by_name.values():
        versioned = [candidate for candidate in group if candidate.version_key is not None]
        keys = sorted({candidate.version_key for candidate in versioned if candidate.version_key},
                      reverse=True)[:count]  # fmt: skip
        kept.update(candidate.id for candidate in versioned if candidate.version_key in keys)
        plain = [candidate for candidate in group if candidate.version_key is None]
        plain.sort(key=lambda candidate: (candidate.created_at, candidate.id), reverse=True)
        kept.update(candidate.id for candidate in plain[:count])
    return kept


def _guarded(candidate: Candidate, in_use_since: datetime) -> bool:
    """Kept whatever any policy says: protected, tagged to keep, in use."""
    downloaded = candidate.last_downloaded_at
    return (
        candidate.protected
        or candidate.kept_by_tag
        or candidate.linked
        or (downloaded is not None and downloaded >= in_use_since)
    )


def _keeps(policy: RetentionPolicy, candidate: Candidate, newest: set[str], now: datetime) -> bool:
    if policy.keep_newest is not None and candidate.id in newest:
        return True
    young = policy.keep_younger_days
    if young is not None and candidate.created_at > now - timedelta(days=young):
        return True
    used, downloaded = policy.keep_downloaded_days, candidate.last_downloaded_at
    return used is not None and downloaded is not None and downloaded > now - timedelta(days=used)


def _holds(candidate: Candidate, mark: Mark) -> bool:
    """Whether what the mark says retention did still shows: someone who showed the
    artifact again or reactivated it undid the course, which then starts over."""
    if mark.step == Step.HIDDEN:
        return candidate.os_hidden
    if mark.step == Step.DEACTIVATED:
        return candidate.status is Status.DEACTIVATED
    return True


def _due(mark: Mark, graces: Graces) -> tuple[str, datetime]:
    if mark.step == Step.SCHEDULED:
        return Action.HIDE, mark.step_at + graces.hide
    if mark.step == Step.HIDDEN:
        return Action.DEACTIVATE, mark.step_at + graces.deactivate
    return Action.DELETE, mark.step_at + graces.delete


def _next_step(candidate: Candidate, covering: list[RetentionPolicy], now: datetime) -> PlannedStep:
    graces = Graces.longest(covering)
    mark = candidate.mark
    if mark is not None and not _holds(candidate, mark):
        mark = None
    if mark is None:
        action, due_at = Action.HIDE, now + graces.hide
    else:
        action, due_at = _due(mark, graces)
    return PlannedStep(
        candidate.id, candidate.owner, candidate.name, candidate.version, candidate.size,
        action, due_at, None if mark is None else mark.step,
        tuple(policy.id for policy in covering), 0, graces, mark, candidate.mark,
    )  # fmt: skip


def _restore(candidate: Candidate, now: datetime) -> PlannedStep:
    assert candidate.mark is not None
    return PlannedStep(
        candidate.id, candidate.owner, candidate.name, candidate.version, candidate.size,
        Action.RESTORE, now, candidate.mark.step, (), 0, None, candidate.mark,
    )  # fmt: skip
