"""The JOBS setting, read once into validated, frozen JobSpec objects."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .exceptions import (
    ConfigurationError,
    InvalidWorkspaceError,
    UndeclaredTaskError,
    UnknownJobError,
)
from .flow import Concurrency, RateLimit, key_fields, parse_concurrency, parse_rate_limit
from .jsonvalues import storable_problem
from .schedule_specs import ScheduleSpec, parse_declarations

HOOK_KEYS = ("creation_hook", "pre_task_hook", "post_task_hook", "failure_hook")
# Hooks that only a worker runs. Like task paths, enqueueing never imports them (3.x did not).
RUN_TIME_HOOK_KEYS = ("pre_task_hook", "post_task_hook", "failure_hook")
OPTION_KEYS = (
    "workspace_schema",
    "retries",
    "retry_backoff",
    "retry_backoff_max",
    "timeout",
    "atomic",
    "unique",
    "schedules",
    "concurrency",
    "rate_limit",
)
ALLOWED_KEYS = ("tasks", *HOOK_KEYS, *OPTION_KEYS)
# Options a job's own workspace may set, for specs that allow it (see JobSpec.for_workspace).
PER_JOB_OPTION_KEYS = ("retries", "retry_backoff", "retry_backoff_max", "timeout")
SECONDS_OPTION_KEYS = ("retry_backoff", "retry_backoff_max", "timeout")
# Upper bounds of the numeric options, far beyond any useful value: 1000 retries at the default
# backoff cap keep a step retrying for three to six weeks, and a year of backoff or timeout is
# longer than any deployment lives. They keep the backoff, its datetimes and the timeout's
# timers (SIGALRM's overflows past about 31 years, threading's past 292) clear of overflow.
MAX_RETRIES = 1000
MAX_OPTION_SECONDS = 365 * 24 * 3600.0

# Jobs enqueued through Django's tasks framework (django_dbq.backends.DatabaseBackend) carry this
# reserved name. It needs no entry in JOBS: its one step is a runner that runs the Django task its
# workspace names, after checking that it really is one.
DJANGO_TASK_JOB = "django_dbq.tasks"
DJANGO_TASK_RUNNER = "django_dbq.tasks_backend.runner.run_task"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the JOBS setting, reported by the system checks."""

    check_id: str
    message: str
    hint: str = ""
    # False for a problem only running the job can trip over (a path that does not import):
    # the job can still be enqueued, as in django-db-queue 3.x, and that step fails at run time.
    blocks_enqueue: bool = True


@dataclass(frozen=True)
class JobSpec:
    """One job of the JOBS setting: its ordered task paths, hooks and options."""

    name: str
    tasks: tuple[str, ...]
    creation_hook: str | None = None
    pre_task_hook: str | None = None
    post_task_hook: str | None = None
    failure_hook: str | None = None
    workspace_schema: Mapping[str, Any] | None = None
    retries: int = 0
    retry_backoff: float | None = None
    retry_backoff_max: float | None = None
    timeout: float | None = None
    atomic: bool = False
    unique: bool | tuple[str, ...] = False
    schedules: tuple[ScheduleSpec, ...] = field(default=())
    # Flow control (flow.py): at most so many steps run at once / start per window.
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
    # Whether a job's workspace may set its own PER_JOB_OPTION_KEYS under "options": a Django
    # task's retries and timeout belong to the task, and all tasks share one job name.
    options_from_workspace: bool = False

    @property
    def limited(self) -> bool:
        """Whether this job's steps are claimed under a concurrency or rate limit."""
        return self.concurrency is not None or self.rate_limit is not None

    @functools.cached_property
    def key_fields(self) -> tuple[str, ...]:
        """The workspace fields this job's concurrency_key is made of."""
        return key_fields(self.concurrency, self.rate_limit)

    @property
    def hooks(self) -> dict[str, str]:
        """The declared hooks, by key."""
        return {key: getattr(self, key) for key in HOOK_KEYS if getattr(self, key)}

    def declared_paths(self) -> tuple[str, ...]:
        """Every import path this job may run: its tasks and its hooks."""
        return (*self.tasks, *self.hooks.values())

    def step_of(self, step: int, next_task: str) -> int | None:
        """The index of the task a row points at, or None when it cannot be told safely.

        ``step`` is authoritative when it agrees with ``next_task``. When it does not, either
        the row was written by django-db-queue 3.x (which kept only ``next_task``; migration
        0007 gave it step 0) or the job's task list changed in JOBS while it was in flight.
        Only a row at step 0 whose ``next_task`` is declared exactly once is looked up: no
        step of such a job has run under django_dbq 4, so going on from there cannot run one
        of them again, and it is how a 3.x row resumes. Any other guess could run earlier
        steps again (a reordered list puts a finished step after the one found; a repeated
        path has no single answer), so such a row is not run.
        """
        if 0 <= step < len(self.tasks) and self.tasks[step] == next_task:
            return step
        if step == 0 and self.tasks.count(next_task) == 1:
            return self.tasks.index(next_task)
        return None

    def step_index(self, step: int, next_task: str) -> int:
        """The step_of a row; raises UndeclaredTaskError saying why when it has none."""
        index = self.step_of(step, next_task)
        if index is not None:
            return index
        tasks = list(self.tasks)
        if next_task not in tasks:
            raise UndeclaredTaskError(
                f"job {self.name!r} at step {step} has next_task {next_task!r}, which JOBS "
                f"does not declare for it; its tasks are {tasks}"
            )
        where = [i for i, task in enumerate(tasks) if task == next_task]
        raise UndeclaredTaskError(
            f"job {self.name!r} is at step {step} with next_task {next_task!r}, which JOBS "
            f"declares as step {' and '.join(map(str, where))}; its tasks are {tasks}. The "
            "task list changed while the job was in flight, and resuming at a guessed step "
            "could run earlier steps again"
        )

    def for_workspace(self, workspace: Any) -> JobSpec:
        """This spec with the options a job's workspace sets, where the spec allows that."""
        if not self.options_from_workspace or not isinstance(workspace, Mapping):
            return self
        options = workspace.get("options") or {}
        problems = per_job_option_problems(options)
        if problems:
            raise InvalidWorkspaceError(
                f"workspace options of job {self.name!r} are invalid: " + "; ".join(problems)
            )
        values = {key: value for key, value in options.items() if value is not None}
        return dataclasses.replace(self, **values) if values else self

    def resolve(self, path: str) -> Callable[..., Any]:
        """Import one of this job's declared paths; never anything else."""
        if path not in self.declared_paths():
            raise UndeclaredTaskError(
                f"job {self.name!r} does not declare {path!r} in JOBS; "
                f"its tasks are {list(self.tasks)}"
            )
        try:
            return _import(path)
        except ImportError as error:
            raise ImportError(f"job {self.name!r} cannot import {path!r}: {error}") from error

    def validate_workspace(self, workspace: Any) -> None:
        """Raise InvalidWorkspaceError unless the workspace is a JSON object matching the schema."""
        if not isinstance(workspace, dict):
            raise InvalidWorkspaceError(
                f"workspace for job {self.name!r} must be a JSON object (dict), "
                f"not {type(workspace).__name__}"
            )
        # An empty workspace (the most common one) is valid JSON without encoding it.
        problem = storable_problem(workspace) if workspace else None
        if problem is not None:
            raise InvalidWorkspaceError(
                f"workspace for job {self.name!r} is not JSON-serialisable as every database "
                f"stores it: {problem}"
            )
        if self.validator is None:
            return
        import jsonschema

        error = jsonschema.exceptions.best_match(self.validator.iter_errors(workspace))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise InvalidWorkspaceError(
                f"workspace for job {self.name!r} is invalid at {where}: {error.message}"
            )

    @functools.cached_property
    def validator(self) -> Any:
        """A jsonschema validator for the workspace, or None when no schema is declared."""
        if self.workspace_schema is None:
            return None
        import jsonschema

        cls = jsonschema.validators.validator_for(self.workspace_schema)
        return cls(self.workspace_schema, format_checker=cls.FORMAT_CHECKER)


DJANGO_TASK_SPEC = JobSpec(
    name=DJANGO_TASK_JOB, tasks=(DJANGO_TASK_RUNNER,), options_from_workspace=True
)


def per_job_option_problems(options: Any) -> list[str]:
    """What is wrong with a dict of PER_JOB_OPTION_KEYS; empty when nothing is (None = default)."""
    if not isinstance(options, Mapping):
        return [f"options must be a dict, not {type(options).__name__}"]
    problems = []
    for key, value in options.items():
        if key not in PER_JOB_OPTION_KEYS:
            problems.append(f"unknown option {key!r} (allowed: {', '.join(PER_JOB_OPTION_KEYS)})")
        elif value is not None and (problem := option_problem(key, value)):
            problems.append(f"{key!r} {problem}")
    return problems


def option_problem(key: str, value: Any) -> str:
    """Why ``value`` is not valid for ``retries`` or a seconds option, or '' when it is."""
    if key == "retries":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
            return f"must be an integer from 0 to {MAX_RETRIES}, not {value!r}"
    elif (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        # Written so that NaN fails too.
        or not 0 < value <= MAX_OPTION_SECONDS
    ):
        return (
            f"must be a number of seconds > 0 and at most {MAX_OPTION_SECONDS:.0f} (one year), "
            f"not {value!r}"
        )
    return ""


@functools.lru_cache(maxsize=1024)
def _import(path: str) -> Callable[..., Any]:
    return import_string(path)


class Registry:
    """All job specs of the JOBS setting, plus the problems found while reading it."""

    def __init__(self, jobs_setting: Any):
        self.specs: dict[str, JobSpec] = {}
        self.problems: dict[str | None, list[Problem]] = {}
        if not isinstance(jobs_setting, Mapping):
            self._problem(
                None,
                "E001",
                f"JOBS must be a dict of job name to tasks, not {type(jobs_setting).__name__}.",
            )
            return
        schedule_owners: dict[str, str] = {}
        for name, entry in jobs_setting.items():
            spec = self._parse(name, entry)
            if spec is None:
                continue
            clashes = [s.name for s in spec.schedules if s.name in schedule_owners]
            if clashes:
                self._problem(
                    name,
                    "E010",
                    f"JOBS[{name!r}] declares schedule {clashes[0]!r}, which "
                    f"JOBS[{schedule_owners[clashes[0]]!r}] declares too.",
                    "Schedule names are unique: give one of them a different 'name'.",
                )
                continue
            schedule_owners.update((s.name, name) for s in spec.schedules)
            self.specs[name] = spec

    def schedules(self) -> list[ScheduleSpec]:
        """Every schedule declared in JOBS."""
        return [schedule for spec in self.specs.values() for schedule in spec.schedules]

    def get(self, name: str) -> JobSpec:
        """The spec of a declared job; raises UnknownJobError naming the known jobs."""
        if name == DJANGO_TASK_JOB:
            return DJANGO_TASK_SPEC
        try:
            return self.specs[name]
        except (KeyError, TypeError):
            pass
        if name in self.problems:
            raise ConfigurationError(
                f"job {name!r} is misconfigured in JOBS: "
                + "; ".join(p.message for p in self.problems[name])
            )
        known = ", ".join(sorted(map(repr, self.specs))) or "none"
        raise UnknownJobError(f"unknown job name {name!r}; the jobs in JOBS are: {known}")

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def names(self) -> list[str]:
        """The declared job names, sorted."""
        return sorted(self.specs)

    @functools.cached_property
    def limited(self) -> dict[str, JobSpec]:
        """The specs with a concurrency or rate limit, by name (empty: claims are unkeyed)."""
        return {name: spec for name, spec in self.specs.items() if spec.limited}

    def _problem(
        self,
        name: str | None,
        check_id: str,
        message: str,
        hint: str = "",
        blocks_enqueue: bool = True,
    ) -> None:
        self.problems.setdefault(name, []).append(Problem(check_id, message, hint, blocks_enqueue))

    def _blocking(self, name: str) -> int:
        return sum(problem.blocks_enqueue for problem in self.problems.get(name, ()))

    def _parse(self, name: Any, entry: Any) -> JobSpec | None:
        if not isinstance(name, str) or not name or len(name) > 100:
            self._problem(
                str(name),
                "E002",
                f"JOBS key {name!r} must be a non-empty string of at most 100 characters.",
            )
            return None
        if name == DJANGO_TASK_JOB:
            self._problem(
                name,
                "E002",
                f"JOBS key {name!r} is reserved for tasks of Django's tasks framework.",
                "Choose another job name.",
            )
            return None
        if isinstance(entry, (list, tuple)):
            entry = {"tasks": list(entry)}
        if not isinstance(entry, Mapping):
            self._problem(
                name,
                "E002",
                f"JOBS[{name!r}] must be a list of task paths or a dict with a 'tasks' key, "
                f"not {type(entry).__name__}.",
            )
            return None
        before = self._blocking(name)
        unknown = sorted(set(entry) - set(ALLOWED_KEYS))
        if unknown:
            self._problem(
                name,
                "E003",
                f"JOBS[{name!r}] has unknown keys {unknown}.",
                f"Allowed keys: {', '.join(ALLOWED_KEYS)}.",
            )
        tasks = entry.get("tasks")
        if not isinstance(tasks, (list, tuple)) or not tasks:
            self._problem(name, "E004", f"JOBS[{name!r}] must declare a non-empty list of tasks.")
            tasks = ()
        for path in tasks:
            if not isinstance(path, str) or not is_import_path(path) or len(path) > 255:
                self._problem(
                    name,
                    "E005",
                    f"JOBS[{name!r}] task {path!r} must be a dotted import path "
                    "of at most 255 characters.",
                    # Stored in next_task, so it must be a string that fits the column.
                    blocks_enqueue=not isinstance(path, str) or len(path) > 255,
                )
        for key in HOOK_KEYS:
            value = entry.get(key)
            if value is not None and (not isinstance(value, str) or not is_import_path(value)):
                self._problem(
                    name,
                    "E005",
                    f"JOBS[{name!r}][{key!r}] must be a dotted import path.",
                    blocks_enqueue=not isinstance(value, str) or key not in RUN_TIME_HOOK_KEYS,
                )
        options = self._parse_options(name, entry)
        if self._blocking(name) > before:
            return None
        spec = JobSpec(
            name=name,
            tasks=tuple(tasks),
            **{key: entry.get(key) for key in HOOK_KEYS},
            **options,
        )
        for schedule in spec.schedules:
            try:
                spec.validate_workspace(schedule.workspace)
            except InvalidWorkspaceError as error:
                self._problem(name, "E010", f"JOBS[{name!r}] schedule {schedule.name!r}: {error}")
        if self._blocking(name) > before:
            return None
        return spec

    def _parse_options(self, name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        schema = entry.get("workspace_schema")
        if schema is not None:
            options["workspace_schema"] = schema
            problem = _schema_problem(schema)
            if problem:
                self._problem(
                    name, "E007", f"JOBS[{name!r}]['workspace_schema'] is invalid: {problem}"
                )
        options["retries"] = entry.get("retries", 0)
        for key in SECONDS_OPTION_KEYS:
            options[key] = entry.get(key)
        for key in PER_JOB_OPTION_KEYS:
            # None means "the default" for the seconds options; retries has no None.
            checked = options[key] is not None or key == "retries"
            problem = checked and option_problem(key, options[key])
            if problem:
                self._problem(name, "E008", f"JOBS[{name!r}][{key!r}] {problem}.")
        atomic = entry.get("atomic", False)
        if not isinstance(atomic, bool):
            self._problem(
                name, "E008", f"JOBS[{name!r}]['atomic'] must be True or False, not {atomic!r}."
            )
        options["atomic"] = atomic
        unique = entry.get("unique", False)
        if isinstance(unique, (list, tuple)):
            if not unique or not all(isinstance(k, str) and k for k in unique):
                self._problem(
                    name,
                    "E008",
                    f"JOBS[{name!r}]['unique'] must be True, False "
                    "or a non-empty list of workspace keys.",
                )
            unique = tuple(unique)
        elif not isinstance(unique, bool):
            self._problem(
                name,
                "E008",
                f"JOBS[{name!r}]['unique'] must be True, False or a list of workspace keys, "
                f"not {unique!r}.",
            )
        options["unique"] = unique
        schedules, problems = parse_declarations(name, entry.get("schedules", ()))
        for problem in problems:
            self._problem(name, "E010", problem)
        options["schedules"] = schedules
        options.update(self._parse_flow(name, entry))
        return options

    def _parse_flow(self, name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The concurrency (E011) and rate_limit (E012) options, and that their keys agree
        (E013): a job has one concurrency_key."""
        options: dict[str, Any] = {}
        if entry.get("concurrency") is not None:
            options["concurrency"], problem = parse_concurrency(entry["concurrency"])
            if problem:
                self._problem(name, "E011", f"JOBS[{name!r}]['concurrency'] {problem}.")
        if entry.get("rate_limit") is not None:
            options["rate_limit"], problem = parse_rate_limit(entry["rate_limit"])
            if problem:
                self._problem(name, "E012", f"JOBS[{name!r}]['rate_limit'] {problem}.")
        concurrency, rate = options.get("concurrency"), options.get("rate_limit")
        if concurrency and rate and concurrency.key and rate.key and concurrency.key != rate.key:
            self._problem(
                name,
                "E013",
                f"JOBS[{name!r}] keys its concurrency by {list(concurrency.key)} but its "
                f"rate_limit by {list(rate.key)}.",
                "Use the same key for both, or omit the rate_limit's key for a job-wide rate.",
            )
        return options


def is_import_path(path: str) -> bool:
    """Whether a path has the shape of a dotted import path (module.attribute)."""
    return "." in path


def _schema_problem(schema: Any) -> str:
    """Why a workspace schema is not a valid JSON schema, or '' when it is."""
    import jsonschema

    if not isinstance(schema, Mapping):
        return f"expected a dict, got {type(schema).__name__}"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        return error.message
    return ""


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The registry built from the current JOBS setting (rebuilt when the setting changes)."""
    return Registry(getattr(settings, "JOBS", {}))


@receiver(setting_changed)
def _reset_registry(*, setting: str, **kwargs: Any) -> None:
    if setting == "JOBS":
        get_registry.cache_clear()
