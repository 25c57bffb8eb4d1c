"""Code written for django-db-queue 3.3 keeps working."""

import datetime
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from django_dbq.management.commands.worker import Worker
from django_dbq.models import Job
from django_dbq.testing import drain
from tests import tasks

pytestmark = pytest.mark.django_db


def test_complete_is_an_alias_of_completed():
    assert Job.STATES.COMPLETE == Job.STATES.COMPLETED == "COMPLETED"
    assert Job.STATES.STOPPING == "STOPPING"
    assert [s.value for s in Job.STATES][:4] == ["NEW", "READY", "PROCESSING", "STOPPING"]


def test_dict_form_with_the_four_hooks_is_accepted(settings):
    settings.JOBS = {
        "legacy": {
            "tasks": ["tests.tasks.record"],
            "creation_hook": "tests.tasks.on_create",
            "pre_task_hook": "tests.tasks.pre_hook",
            "post_task_hook": "tests.tasks.post_hook",
            "failure_hook": "tests.tasks.on_failure",
        }
    }
    Job.objects.create(name="legacy")
    from django_dbq.management.commands.worker import Worker

    Worker("default", 1)._process_job()
    assert Job.objects.get().state == Job.STATES.COMPLETE


def test_worker_class_lives_where_3x_put_it():
    from django_dbq.management.commands.worker import Worker
    from django_dbq.worker import Worker as Engine

    assert Worker is Engine
    worker = Worker("default", 1)
    assert (worker.queue_name, worker.rate_limit_in_seconds, worker.alive) == ("default", 1, True)


def test_process_job_runs_one_step_per_call():
    job = Job.objects.create(name="three_steps")
    from django_dbq.management.commands.worker import Worker

    worker = Worker("default", 0)
    for expected in (1, 2, 3):
        worker._process_job()
        job.refresh_from_db()
        assert job.step == expected
    assert job.state == Job.STATES.COMPLETED


def test_to_process_and_get_ready_or_none():
    job = Job.objects.create(name="basic")
    Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    with transaction.atomic():
        assert list(Job.objects.to_process("default")) == [job]
        assert Job.objects.get_ready_or_none("default") == job
        assert Job.objects.get_ready_or_none("other") is None


def test_delete_old_and_get_queue_depths():
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(
        state=Job.STATES.COMPLETE, created=timezone.now() - datetime.timedelta(hours=25)
    )
    Job.objects.create(name="basic")
    assert Job.get_queue_depths() == {"default": 1}
    assert Job.get_queue_depths(exclude_future_jobs=True) == {"default": 1}
    Job.objects.delete_old()
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_step_run_by_process_job_keeps_its_lease_while_it_runs():
    import threading
    import time

    from django.db import connections

    from django_dbq.management.commands.worker import Worker
    from django_dbq.periodic.rescue import rescue_expired_leases

    job = Job.objects.create(name="io_wait", workspace={"seconds": 1.5})
    worker = Worker("default", 0, lease_seconds=0.6)
    rescued = []

    def rescue_after_the_lease_would_have_expired():
        time.sleep(1.0)
        try:
            rescued.append(rescue_expired_leases())
        finally:
            connections.close_all()

    rescuer = threading.Thread(target=rescue_after_the_lease_would_have_expired)
    rescuer.start()
    worker._process_job()
    rescuer.join()
    job.refresh_from_db()
    assert rescued == [0]
    assert (job.state, job.rescues, len(job.workspace["run"])) == (Job.STATES.COMPLETED, 0, 3)
    assert worker.heartbeat is None  # the step's own heartbeat stopped with it


def test_a_job_whose_task_paths_do_not_import_is_enqueued_as_in_3x(settings):
    settings.JOBS = {"legacy": {"tasks": ["a", "b"]}}
    job = Job.objects.create(name="legacy")
    job.refresh_from_db()
    assert (job.state, job.next_task, job.step) == (Job.STATES.NEW, "a", 0)


def test_a_step_whose_path_does_not_import_fails_its_job_and_the_worker_goes_on(settings):
    settings.JOBS = {"legacy": ["a"], "basic": ["tests.tasks.record"]}
    broken = Job.objects.create(name="legacy")
    fine = Job.objects.create(name="basic")
    drain()
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.state == Job.STATES.FAILED
    assert "job 'legacy' cannot import 'a'" in broken.last_error
    assert fine.state == Job.STATES.COMPLETED


def test_a_pre_task_hook_that_does_not_import_fails_the_step(settings):
    settings.JOBS = {"legacy": {"tasks": ["tests.tasks.record"], "pre_task_hook": "nohook"}}
    job = Job.objects.create(name="legacy")
    drain()
    job.refresh_from_db()
    assert job.state == Job.STATES.FAILED
    assert "cannot import 'nohook'" in job.last_error
    assert tasks.CALLS == []  # the task did not run


def test_update_next_task_advances_a_saved_job(settings):
    job = Job.objects.create(name="three_steps")
    job.update_next_task()
    job.save()
    job.refresh_from_db()
    assert (job.next_task, job.step) == ("tests.tasks.add_one", 1)


def test_process_job_runs_one_step_then_waits_out_the_rate_limit():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default", 60)
    with mock.patch("django_dbq.management.commands.worker.sleep") as sleep:
        worker.process_job()
        worker.process_job()
    job.refresh_from_db()
    assert (sleep.call_count, job.step) == (2, 1)
    assert worker.last_job_finished <= timezone.now()


def test_a_worker_run_after_process_job_keeps_its_own_rate_limit_clock():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default", 0.01, burst=True)
    with mock.patch("django_dbq.management.commands.worker.sleep"):
        worker.process_job()
    worker.run_loop()
    job.refresh_from_db()
    assert job.state == Job.STATES.COMPLETED


def test_shutdown_lets_the_current_job_run_on_rather_than_cancelling_it():
    # 3.x marked the current job STOPPING; here STOPPING means cancelled (docs/upgrading.md).
    job = Job.objects.create(name="basic")
    worker = Worker("default", 1)
    worker.current_job = job
    worker.shutdown(None, None)
    job.refresh_from_db()
    assert (worker.alive, job.state) == (False, Job.STATES.NEW)
