"""Django's tasks framework on django_dbq: enqueue, run in the worker, read results back.

The tests drive the framework's public API (``@task``, ``.enqueue()``, ``get_result()``,
``refresh()``, its signals) against DatabaseBackend, on django.tasks (Django >= 6.0) or the
django-tasks backport (older Django). They skip when neither is installed.
"""

import datetime
import logging
import os
import sys
import uuid

import django
import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from django.utils import timezone

pytest.importorskip(
    "django.tasks" if django.VERSION >= (6, 0) else "django_tasks",
    reason="needs Django's tasks framework: Django >= 6.0, or the django-tasks backport",
)

from django_dbq.backends import DatabaseBackend, TaskJSONError  # noqa: E402
from django_dbq.models import Job, JobState  # noqa: E402
from django_dbq.registry import DJANGO_TASK_JOB  # noqa: E402
from django_dbq.tasks_backend.compat import (  # noqa: E402
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from django_dbq.testing import TEST_OWNER, drain, run_job  # noqa: E402
from tests import framework_tasks as tasks  # noqa: E402
from tests.tasks import CALLS  # noqa: E402

if django.VERSION >= (6, 0):
    from django.tasks.exceptions import TaskResultMismatch
else:
    from django_tasks.exceptions import TaskResultMismatch

pytestmark = pytest.mark.django_db


def job_of(result) -> Job:
    return Job.objects.get(pk=result.id)


def run(result) -> None:
    """Run the result's job once now (one attempt), as a worker would."""
    run_job(job_of(result))
    result.refresh()


@pytest.fixture
def received():
    """Framework signals sent during the test: (signal name, status, exception being handled)."""
    sent = []
    senders = set()

    def receiver(signal_name):
        def receive(sender, task_result, **kwargs):
            senders.add(sender)
            sent.append((signal_name, task_result.status, sys.exc_info()[1]))

        return receive

    receivers = {
        signal: receiver(name)
        for signal, name in (
            (task_enqueued, "enqueued"),
            (task_started, "started"),
            (task_finished, "finished"),
        )
    }
    for signal, receive in receivers.items():
        signal.connect(receive)
    yield sent
    for signal, receive in receivers.items():
        signal.disconnect(receive)
    # Checked here: an assertion inside a receiver would be caught by send_robust.
    assert senders <= {DatabaseBackend}


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_stores_a_job_and_returns_a_ready_result():
    result = tasks.add.enqueue(2, 3)
    job = job_of(result)
    assert result.status == TaskResultStatus.READY
    assert result.id == str(job.pk)
    assert (result.args, result.kwargs, result.backend) == ([2, 3], {}, "default")
    assert result.enqueued_at == job.created
    assert (job.name, job.state, job.queue_name, job.priority) == (
        DJANGO_TASK_JOB,
        JobState.NEW,
        "default",
        0,
    )
    assert job.workspace["task"] == "tests.framework_tasks.add"


def test_enqueue_sends_task_enqueued(received):
    tasks.add.enqueue(1, 1)
    assert received == [("enqueued", TaskResultStatus.READY, None)]


def test_queue_name_and_priority_of_the_task_are_the_jobs():
    job = job_of(tasks.send_email.enqueue("a@example.com"))
    assert (job.queue_name, job.priority) == ("emails", 10)


def test_using_overrides_queue_name_and_priority():
    job = job_of(tasks.add.using(queue_name="emails", priority=-100).enqueue(1, 2))
    assert (job.queue_name, job.priority) == ("emails", -100)


def test_worker_of_a_queue_runs_only_that_queues_tasks():
    result = tasks.send_email.enqueue("a@example.com")
    assert drain("default") == 0
    assert drain("emails") == 1
    result.refresh()
    assert result.return_value == "sent to a@example.com"


def test_higher_priority_tasks_run_first():
    tasks.send_email.using(priority=-5).enqueue("low@example.com")
    tasks.send_email.using(priority=50).enqueue("high@example.com")
    drain("emails")
    assert CALLS == [("send_email", "high@example.com"), ("send_email", "low@example.com")]


def test_run_after_defers_the_task_until_then():
    later = timezone.now() + datetime.timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 2)
    assert job_of(result).run_after == later
    assert drain() == 0
    assert result.task.run_after == later
    assert tasks.add.get_result(result.id).task.run_after == later


def test_a_task_the_worker_could_not_find_by_its_path_is_rejected():
    with pytest.raises(InvalidTask, match="'tests.framework_tasks._kept_plain' cannot be found"):
        tasks.renamed.enqueue()
    assert not Job.objects.exists()


def test_a_queue_not_in_queues_is_rejected():
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid"):
        tasks.add.using(queue_name="nope")


def test_priority_outside_the_frameworks_range_is_rejected():
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        tasks.add.using(priority=101)


def test_a_naive_run_after_is_rejected():
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        tasks.add.using(run_after=datetime.datetime(2030, 1, 1))


@pytest.mark.parametrize(
    "argument",
    [{1, 2}, datetime.date(2030, 1, 1), object(), float("nan")],
    ids=["set", "date", "object", "nan"],
)
def test_arguments_that_are_not_json_are_rejected_and_nothing_is_stored(argument):
    with pytest.raises(TaskJSONError, match="arguments of task 'tests.framework_tasks.echo'"):
        tasks.echo.enqueue(argument)
    assert not Job.objects.exists()


def test_dict_keys_that_are_not_strings_are_rejected():
    with pytest.raises(TaskJSONError, match="dict keys must be strings"):
        tasks.echo.enqueue({1: "one"})


def test_json_errors_are_type_errors_like_the_frameworks_own():
    with pytest.raises(TypeError):
        tasks.echo.enqueue(x={1, 2})


def test_tuples_are_stored_as_lists_as_the_framework_normalises_them():
    result = tasks.echo.enqueue((1, 2), key=("a",))
    assert (result.args, result.kwargs) == ([[1, 2]], {"key": ["a"]})
    assert job_of(result).workspace["args"] == [[1, 2]]


def test_aenqueue_stores_a_job_too():
    result = async_to_sync(tasks.add.aenqueue)(4, 5)
    assert job_of(result).workspace["args"] == [4, 5]


# -- running in the worker ---------------------------------------------------------------------


def test_the_worker_runs_the_task_and_keeps_its_return_value():
    result = tasks.add.enqueue(2, 3)
    assert drain() == 1
    job = job_of(result)
    assert (job.state, job.result) == (JobState.COMPLETED, 5)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5


def test_arguments_reach_the_task_as_json():
    result = tasks.echo.enqueue(1, "two", [3], four={"five": None})
    drain()
    result.refresh()
    assert result.return_value == {"args": [1, "two", [3]], "kwargs": {"four": {"five": None}}}


def test_an_async_task_runs_in_the_worker():
    result = tasks.async_double.enqueue(21)
    drain()
    result.refresh()
    assert result.return_value == 42


def test_a_finished_result_has_its_times_and_worker():
    result = tasks.add.enqueue(1, 1)
    drain()
    result.refresh()
    job = job_of(result)
    assert result.worker_ids == [TEST_OWNER]
    assert result.attempts == 1
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at
    assert result.last_attempted_at <= result.finished_at == job.finished_at


def test_a_waiting_result_has_no_start_or_finish():
    result = tasks.add.get_result(tasks.add.enqueue(1, 1).id)
    assert (result.started_at, result.finished_at, result.last_attempted_at) == (None, None, None)
    assert result.worker_ids == []
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value  # noqa: B018


def test_a_failed_task_keeps_the_exception_class_path_and_traceback():
    result = tasks.fail.enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert 'raise ValueError("boom")' in error.traceback
    assert job_of(result).last_error == "builtins.ValueError: boom"
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_a_return_value_that_is_not_json_fails_the_task():
    result = tasks.return_a_set.enqueue()
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "django_dbq.tasks_backend.results.TaskJSONError"
    assert "return value of task 'tests.framework_tasks.return_a_set'" in result.errors[0].traceback


def test_the_context_attempt_counts_every_attempt():
    result = tasks.attempt_report.using(retries=1).enqueue(succeed_on=2)
    run(result)
    assert (result.status, result.attempts) == (TaskResultStatus.READY, 1)
    run(result)
    assert result.return_value == {"attempt": 2, "id": result.id, "worker_ids": [TEST_OWNER] * 2}
    assert [error.exception_class_path for error in result.errors] == ["builtins.RuntimeError"]


def test_task_options_become_the_jobs_retries():
    result = tasks.flaky.enqueue(succeed_on=3)
    assert job_of(result).workspace["options"] == {"retries": 2, "retry_backoff": 0.01}
    run(result)
    run(result)
    run(result)
    assert (result.status, result.return_value, result.attempts) == ("SUCCESSFUL", 3, 3)
    assert len(result.errors) == 2


def test_a_task_fails_for_good_once_its_retries_are_spent():
    result = tasks.flaky.enqueue(succeed_on=10)
    for _ in range(3):
        run(result)
    assert (result.status, result.attempts, len(result.errors)) == ("FAILED", 3, 3)


def test_the_timeout_option_stops_a_slow_attempt():
    result = tasks.sleep.enqueue(5)
    run(result)
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "django_dbq.exceptions.StepTimeout"


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "django_dbq.backends.DatabaseBackend",
            "OPTIONS": {"retries": 4, "timeout": 30},
        }
    }
)
def test_backend_options_are_defaults_that_task_options_override():
    assert job_of(tasks.add.enqueue(1, 2)).workspace["options"] == {"retries": 4, "timeout": 30}
    job = job_of(tasks.add.using(retries=1).enqueue(1, 2))
    assert job.workspace["options"] == {"retries": 1, "timeout": 30}
    assert (job.spec.for_workspace(job.workspace).retries, job.spec.retries) == (1, 0)


# -- signals -----------------------------------------------------------------------------------


def test_started_and_finished_are_sent_around_a_successful_run(received):
    tasks.add.enqueue(1, 2)
    drain()
    assert received == [
        ("enqueued", TaskResultStatus.READY, None),
        ("started", TaskResultStatus.RUNNING, None),
        ("finished", TaskResultStatus.SUCCESSFUL, None),
    ]


def test_finished_is_sent_inside_the_except_block_of_a_failure(received):
    tasks.fail.enqueue()
    drain()
    name, status, handling = received[-1]
    assert (name, status) == ("finished", TaskResultStatus.FAILED)
    assert isinstance(handling, ValueError)


def test_an_attempt_that_will_be_retried_finishes_ready(received):
    run(tasks.flaky.enqueue(succeed_on=2))
    assert received[-1][:2] == ("finished", TaskResultStatus.READY)


def test_a_receiver_that_raises_does_not_fail_the_task():
    def broken(**kwargs):
        raise RuntimeError("receiver broke")

    task_finished.connect(broken)
    try:
        result = tasks.add.enqueue(1, 2)
        drain()
    finally:
        task_finished.disconnect(broken)
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL


# -- get_result --------------------------------------------------------------------------------


def test_get_result_reads_the_row_from_any_backend_instance():
    result = tasks.add.enqueue(1, 2)
    fetched = task_backends["default"].get_result(result.id)
    assert (fetched.id, fetched.status, fetched.args) == (result.id, "READY", [1, 2])
    assert fetched.task.func is tasks.add.func


def test_aget_result_reads_the_row_too():
    result = tasks.add.enqueue(1, 2)
    assert async_to_sync(tasks.add.aget_result)(result.id).args == [1, 2]


@pytest.mark.parametrize("result_id", ["not-a-uuid", str(uuid.uuid4())])
def test_get_result_of_an_unknown_id_raises_does_not_exist(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result_id)


def test_get_result_of_an_ordinary_job_raises_does_not_exist():
    job = Job.objects.create(name="basic")
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(str(job.pk))


def test_get_result_through_another_task_raises_mismatch():
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(TaskResultMismatch):
        tasks.fail.get_result(result.id)


@override_settings(
    TASKS={
        "default": {"BACKEND": "django_dbq.backends.DatabaseBackend"},
        "other": {"BACKEND": "django_dbq.backends.DatabaseBackend"},
    }
)
def test_get_result_only_finds_results_of_its_own_backend():
    result = tasks.add.using(backend="other").enqueue(1, 2)
    assert task_backends["other"].get_result(result.id).backend == "other"
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result.id)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (JobState.NEW, TaskResultStatus.READY),
        (JobState.READY, TaskResultStatus.READY),
        (JobState.PROCESSING, TaskResultStatus.RUNNING),
        (JobState.STOPPING, TaskResultStatus.RUNNING),
        (JobState.COMPLETED, TaskResultStatus.SUCCESSFUL),
        (JobState.FAILED, TaskResultStatus.FAILED),
        (JobState.CANCELLED, TaskResultStatus.FAILED),
    ],
)
def test_result_status_follows_the_job_state(state, status):
    result = tasks.add.enqueue(1, 2)
    Job.objects.filter(pk=result.id).update(state=state)
    result.refresh()
    assert result.status == status


def test_a_worker_that_died_mid_task_shows_as_an_error():
    result = tasks.add.enqueue(1, 2)
    Job.objects.filter(pk=result.id).update(
        state=JobState.READY,
        attempts=1,
        last_error="django_dbq.LeaseExpired: the worker running this step stopped",
    )
    result.refresh()
    assert [error.exception_class_path for error in result.errors] == ["django_dbq.LeaseExpired"]


# -- the database is data, never code to run ---------------------------------------------------


def tamper(result, **workspace) -> Job:
    job = job_of(result)
    job.workspace.update(workspace)
    Job.objects.filter(pk=job.pk).update(workspace=job.workspace)
    return job


def test_a_row_naming_a_function_that_is_not_a_task_fails_without_calling_it():
    job = tamper(tasks.add.enqueue(1, 2), task="tests.framework_tasks.plain_function")
    job = run_job(job)
    assert job.state == JobState.FAILED
    assert "is not a task" in job.last_error
    assert CALLS == []


def test_a_row_naming_a_module_outside_installed_apps_is_never_imported():
    job = run_job(tamper(tasks.add.enqueue(1, 2), task="antigravity.fly"))
    assert job.state == JobState.FAILED
    assert "'antigravity.fly' is not a task" in job.last_error
    assert "antigravity" not in sys.modules


def test_a_row_naming_a_module_of_an_installed_app_is_never_imported():
    path = "tests.module_with_import_side_effects.delete_everything"
    job = run_job(tamper(tasks.add.enqueue(1, 2), task=path))
    assert job.state == JobState.FAILED
    assert f"{path!r} is not a task" in job.last_error
    assert "the path a job row names is never imported" in job.last_error
    assert "tests.module_with_import_side_effects" not in sys.modules
    assert "DBQ_TESTS_SIDE_EFFECT_MODULE_IMPORTED" not in os.environ


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "django_dbq.backends.DatabaseBackend",
            "OPTIONS": {"task_modules": ["tests.framework_tasks", "tests.task_package"]},
        }
    }
)
def test_the_worker_imports_the_declared_task_modules_to_find_a_task_it_has_not_seen():
    assert "tests.task_package" not in sys.modules  # as in a fresh worker process
    job = Job.objects.create(
        name=DJANGO_TASK_JOB,
        workspace={
            "task": "tests.task_package.greetings.hello",
            "backend": "default",
            "args": ["you"],
            "kwargs": {},
        },
    )
    job = run_job(job)
    assert (job.state, job.result) == (JobState.COMPLETED, "hello you")


def test_a_row_naming_an_unconfigured_backend_fails_clearly():
    job = run_job(tamper(tasks.add.enqueue(1, 2), backend="gone"))
    assert job.state == JobState.FAILED
    assert "names TASKS alias 'gone', which is not configured" in job.last_error


# -- a real worker process ---------------------------------------------------------------------


@pytest.mark.process
def test_manage_py_worker_runs_sync_async_and_context_tasks(manage):
    results = [
        tasks.add.enqueue(20, 22),
        tasks.async_double.enqueue(21),
        tasks.attempt_report.enqueue(),
    ]
    worker = manage("worker", "--burst", "--poll-interval", "0.05")
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    for result in results:
        result.refresh()
    assert [result.status for result in results] == [TaskResultStatus.SUCCESSFUL] * 3
    assert [result.return_value for result in results[:2]] == [42, 42]
    assert results[2].return_value["attempt"] == 1
    assert results[0].worker_ids[0].count(":") == 2  # host:pid:random, not the test's owner


def test_a_failed_tasks_traceback_is_logged_once(caplog):
    tasks.fail.enqueue()
    with caplog.at_level(logging.INFO):
        drain()
    with_traceback = [record for record in caplog.records if record.exc_info]
    assert len(with_traceback) == 1, [record.getMessage() for record in with_traceback]
    step_failed = [r for r in caplog.records if r.getMessage().startswith("event=step_failed")]
    assert step_failed and step_failed[0].levelname == "ERROR"


def test_a_failed_declared_jobs_traceback_is_logged_with_its_step_failed_event(caplog):
    Job.objects.create(name="failing")
    with caplog.at_level(logging.INFO):
        drain()
    [record] = [record for record in caplog.records if record.exc_info]
    assert record.getMessage().startswith("event=step_failed job=failing")
