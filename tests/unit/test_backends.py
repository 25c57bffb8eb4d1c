"""DatabaseBackend without a database: configuration, task validation, JSON rules, the registry."""

import django
import pytest
from django.test import override_settings

pytest.importorskip(
    "django.tasks" if django.VERSION >= (6, 0) else "django_tasks",
    reason="needs Django's tasks framework: Django >= 6.0, or the django-tasks backport",
)

from django_dbq.backends import DatabaseBackend, DatabaseTask, TaskJSONError  # noqa: E402
from django_dbq.exceptions import InvalidWorkspaceError  # noqa: E402
from django_dbq.models import JobState  # noqa: E402
from django_dbq.registry import (  # noqa: E402
    DJANGO_TASK_JOB,
    DJANGO_TASK_RUNNER,
    Registry,
    per_job_option_problems,
)
from django_dbq.tasks_backend import compat  # noqa: E402
from django_dbq.tasks_backend.results import STATUS_OF_STATE, to_json  # noqa: E402
from tests import framework_tasks as tasks  # noqa: E402

BACKEND = "django_dbq.backends.DatabaseBackend"


def make_backend(**params) -> DatabaseBackend:
    return DatabaseBackend(alias="test", params={"BACKEND": BACKEND, **params})


def function_in(module: str):
    """A module-level-looking function that claims to live in ``module``."""

    def job():
        pass

    job.__module__, job.__qualname__ = module, "job"
    return job


# -- the framework, from either source ---------------------------------------------------------


def test_the_backends_exceptions_are_the_frameworks_whatever_it_names_them():
    if django.VERSION >= (6, 0):
        from django.tasks import exceptions

        expected = (exceptions.InvalidTask, exceptions.InvalidTaskBackend)
    else:
        from django_tasks import exceptions

        expected = (exceptions.InvalidTaskError, exceptions.InvalidTaskBackendError)
    assert (compat.InvalidTask, compat.InvalidTaskBackend) == expected


def test_the_backend_declares_every_capability_it_has():
    assert DatabaseBackend.supports_defer
    assert DatabaseBackend.supports_async_task
    assert DatabaseBackend.supports_get_result
    assert DatabaseBackend.supports_priority


def test_the_decorator_makes_database_tasks():
    assert isinstance(tasks.add, DatabaseTask)


@pytest.mark.skipif(django.VERSION[:2] == (6, 0), reason="Django 6.0's @task takes no options")
def test_the_decorator_passes_django_dbq_options_on():
    task = compat.task_backends["default"].task_class  # what @task instantiates
    if django.VERSION >= (6, 0):
        from django.tasks import task as decorator
    else:
        from django_tasks import task as decorator

    made = decorator(retries=2, timeout=5)(function_in("tests.framework_tasks"))
    assert type(made) is task
    assert made.options == {"retries": 2, "timeout": 5}


# -- backend configuration ---------------------------------------------------------------------


def test_the_backend_checks_that_django_dbq_is_installed():
    assert make_backend().check() == []
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        [error] = make_backend().check()
    assert error.id == "django_dbq.E020"


def test_options_set_defaults_for_every_task():
    backend = make_backend(OPTIONS={"retries": 3, "timeout": 10, "task_modules": ["mysite"]})
    assert backend.defaults == {"retries": 3, "timeout": 10}
    assert backend.task_modules == ("mysite",)


def test_unknown_options_are_rejected_naming_the_allowed_ones():
    with pytest.raises(compat.InvalidTaskBackend, match=r"unknown keys \['retry'\] \(allowed: "):
        make_backend(OPTIONS={"retry": 3})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "'retries' must be an integer from 0 to 1000, not -1"),
        ({"timeout": 0}, "'timeout' must be a number of seconds > 0 and at most 31536000"),
        ({"task_modules": "mysite"}, "'task_modules' must be a list of module names"),
    ],
)
def test_invalid_option_values_are_rejected(options, message):
    with pytest.raises(compat.InvalidTaskBackend, match=message):
        make_backend(OPTIONS=options)


def test_queue_names_longer_than_the_job_column_are_rejected():
    with pytest.raises(compat.InvalidTaskBackend, match="must be a string of 1 to 100 characters"):
        make_backend(QUEUES=["q" * 101])


# -- task validation ---------------------------------------------------------------------------


def test_task_options_are_validated_when_the_task_is_defined():
    with pytest.raises(compat.InvalidTask, match="'retries' must be an integer from 0 to 1000"):
        tasks.add.using(retries=-2)


@pytest.mark.parametrize(
    "options",
    [
        {"retries": 1001},
        {"retry_backoff": 1e300},
        {"retry_backoff_max": float("inf")},
        {"timeout": 1e10},
    ],
)
def test_task_options_beyond_their_bounds_are_rejected_before_enqueue(options):
    with pytest.raises(compat.InvalidTask, match="from 0 to 1000|at most 31536000"):
        tasks.add.using(**options)


def test_backend_defaults_beyond_their_bounds_are_rejected():
    with pytest.raises(compat.InvalidTaskBackend, match="'retries' must be an integer from 0"):
        make_backend(OPTIONS={"retries": 10**6})


def test_a_row_whose_options_are_beyond_their_bounds_is_not_run():
    spec = Registry({}).get(DJANGO_TASK_JOB)
    with pytest.raises(InvalidWorkspaceError, match="'retry_backoff_max' must be a number"):
        spec.for_workspace({"options": {"retry_backoff_max": 1e300}})


def test_using_sets_options_and_keeps_the_frameworks_changes():
    changed = tasks.add.using(retries=2, timeout=5, priority=3)
    assert (changed.retries, changed.timeout, changed.priority) == (2, 5, 3)
    assert changed.options == {"retries": 2, "timeout": 5}
    assert tasks.add.options == {}


def test_a_function_defined_in_a_class_is_rejected():
    func = function_in("tests.framework_tasks")
    func.__qualname__ = "Holder.job"
    with pytest.raises(compat.InvalidTask, match="not inside a class"):
        DatabaseTask(func=func, priority=0, backend="default", queue_name="default", run_after=None)


@pytest.mark.parametrize("module", ["mysite.jobs", "tests.views", "tests.taskstuff"])
def test_a_task_outside_the_task_modules_is_rejected_when_defined(module):
    with pytest.raises(compat.InvalidTask, match="outside the modules the worker imports tasks"):
        DatabaseTask(
            func=function_in(module),
            priority=0,
            backend="default",
            queue_name="default",
            run_after=None,
        )


@pytest.mark.parametrize("module", ["tests.tasks", "tests.tasks.mail"])
def test_a_task_in_an_installed_apps_tasks_module_or_package_is_accepted(module):
    task = DatabaseTask(
        func=function_in(module), priority=0, backend="default", queue_name="default"
    )
    assert task.module_path == f"{module}.job"


@override_settings(TASKS={"default": {"BACKEND": BACKEND, "OPTIONS": {"task_modules": ["mysite"]}}})
def test_task_modules_allow_tasks_outside_installed_apps():
    task = DatabaseTask(
        func=function_in("mysite.jobs"),
        priority=0,
        backend="default",
        queue_name="default",
        run_after=None,
    )
    assert task.module_path == "mysite.jobs.job"


@override_settings(TASKS={"default": {"BACKEND": BACKEND, "QUEUES": []}})
def test_with_any_queue_allowed_a_name_must_still_fit_the_job_column():
    with pytest.raises(compat.InvalidTask, match="longer than 100 characters"):
        tasks.add.using(queue_name="q" * 101)


# -- JSON --------------------------------------------------------------------------------------


def test_to_json_normalises_as_the_framework_does():
    assert to_json(("a", (1, 2.5), {"k": None}), "x") == ["a", [1, 2.5], {"k": None}]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "must be JSON"),
        (float("inf"), "must be JSON"),
        ({1: "one"}, "dict keys must be strings"),
        ({"nested": {None: 1}}, "dict keys must be strings"),
    ],
)
def test_to_json_rejects_what_would_not_read_back_unchanged(value, message):
    with pytest.raises(TaskJSONError, match=message):
        to_json(value, "the value")


# -- the registry and the engine ---------------------------------------------------------------


def test_every_job_state_reads_as_a_task_status():
    assert set(STATUS_OF_STATE) == set(JobState.values)


def test_the_reserved_job_name_needs_no_jobs_entry_and_runs_only_the_runner():
    spec = Registry({}).get(DJANGO_TASK_JOB)
    assert spec.tasks == (DJANGO_TASK_RUNNER,)
    assert spec.declared_paths() == (DJANGO_TASK_RUNNER,)


def test_jobs_may_not_declare_the_reserved_name():
    registry = Registry({DJANGO_TASK_JOB: ["app.jobs.run"]})
    [problem] = registry.problems[DJANGO_TASK_JOB]
    assert problem.check_id == "E002" and "reserved" in problem.message


def test_a_task_jobs_workspace_sets_its_retries_and_timeout():
    spec = Registry({}).get(DJANGO_TASK_JOB)
    own = spec.for_workspace({"options": {"retries": 3, "timeout": 9, "retry_backoff": None}})
    assert (own.retries, own.timeout, own.retry_backoff) == (3, 9, None)


def test_an_ordinary_jobs_workspace_cannot_set_options():
    spec = Registry({"plain": ["app.jobs.run"]}).get("plain")
    assert spec.for_workspace({"options": {"retries": 3}}) is spec


def test_invalid_workspace_options_are_an_error_naming_the_problem():
    spec = Registry({}).get(DJANGO_TASK_JOB)
    with pytest.raises(InvalidWorkspaceError, match="'retries' must be an integer from 0 to 1000"):
        spec.for_workspace({"options": {"retries": "x"}})


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({}, []),
        ({"retries": 0, "retry_backoff": 0.5, "retry_backoff_max": 60, "timeout": None}, []),
        ({"retries": True}, ["'retries' must be an integer from 0 to 1000, not True"]),
        (
            {"timeout": float("nan")},
            ["'timeout' must be a number of seconds > 0 and at most 31536000 (one year), not nan"],
        ),
        (
            {"atomic": True},
            [
                "unknown option 'atomic' (allowed: retries, retry_backoff, "
                "retry_backoff_max, timeout)"
            ],
        ),
        ([], ["options must be a dict, not list"]),
    ],
)
def test_per_job_option_problems(options, problems):
    assert per_job_option_problems(options) == problems
