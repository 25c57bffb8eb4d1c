"""Enqueueing: validation, the creation hook, and transactions."""

import pytest
from django.db import IntegrityError, connection, transaction

from django_dbq.exceptions import DuplicateJobError, InvalidWorkspaceError, UnknownJobError
from django_dbq.models import Job, JobState
from tests import tasks

pytestmark = pytest.mark.django_db


def test_new_job_points_at_its_first_task():
    job = Job.objects.create(name="three_steps")
    assert (job.state, job.step, job.next_task) == (JobState.NEW, 0, "tests.tasks.add_one")
    assert job.workspace == {} and job.queue_name == "default"


def test_unknown_name_raises_and_saves_nothing():
    with pytest.raises(UnknownJobError, match="unknown job name 'nope'.*'basic'"):
        Job.objects.create(name="nope")
    assert Job.objects.count() == 0


def test_workspace_must_be_an_object():
    with pytest.raises(InvalidWorkspaceError, match="must be a JSON object"):
        Job.objects.create(name="basic", workspace=["a"])
    assert Job.objects.count() == 0


def test_schema_violation_names_the_field():
    with pytest.raises(
        InvalidWorkspaceError, match="invalid at count: 'x' is not of type 'integer'"
    ):
        Job.objects.create(name="schema", workspace={"url": "u", "count": "x"})
    with pytest.raises(InvalidWorkspaceError, match="'url' is a required property"):
        Job.objects.create(name="schema", workspace={})
    assert Job.objects.count() == 0


def test_valid_workspace_is_saved():
    job = Job.objects.create(name="schema", workspace={"url": "https://x", "count": 2})
    job.refresh_from_db()
    assert job.workspace == {"url": "https://x", "count": 2}


def test_creation_hook_runs_before_the_row_is_saved():
    job = Job.objects.create(name="hooked")
    assert tasks.CALLS == [("creation_hook", "hooked")]
    job.refresh_from_db()
    assert job.workspace == {"created_by_hook": True}


def test_creation_hook_error_propagates_and_saves_nothing(monkeypatch):
    def refuse(job):
        raise RuntimeError("no")

    monkeypatch.setattr(tasks, "on_create", refuse)
    from django_dbq.registry import _import

    _import.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="no"):
            Job.objects.create(name="hooked")
    finally:
        _import.cache_clear()
    assert Job.objects.count() == 0


def test_saving_an_existing_job_does_not_revalidate_or_rerun_hooks():
    job = Job.objects.create(name="hooked")
    tasks.CALLS.clear()
    job.priority = 5
    job.save()
    assert tasks.CALLS == []


def test_priority_queue_and_run_after_are_kept():
    import datetime

    from django.utils import timezone

    later = timezone.now().replace(microsecond=0) + datetime.timedelta(hours=1)
    job = Job.objects.create(name="basic", queue_name="mail", priority=7, run_after=later)
    job.refresh_from_db()
    assert (job.queue_name, job.priority, job.run_after) == ("mail", 7, later)


@pytest.mark.django_db(transaction=True)
def test_job_created_in_a_rolled_back_transaction_vanishes():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            Job.objects.create(name="basic")
            raise RuntimeError("rollback")
    assert Job.objects.count() == 0


def test_unique_job_returns_or_raises_on_the_active_duplicate():
    first = Job.objects.create(name="unique_by_user", workspace={"user": 1})
    with pytest.raises(DuplicateJobError) as raised:
        Job.objects.create(name="unique_by_user", workspace={"user": 1, "other": "x"})
    assert raised.value.existing == first
    job, created = Job.objects.get_or_enqueue(name="unique_by_user", workspace={"user": 1})
    assert (job, created) == (first, False)
    other, created = Job.objects.get_or_enqueue(name="unique_by_user", workspace={"user": 2})
    assert created and other != first


def test_unique_job_can_be_enqueued_again_once_finished():
    from django_dbq.testing import run_job

    first = run_job(Job.objects.create(name="unique_by_user", workspace={"user": 1}))
    assert first.state == JobState.COMPLETED and first.unique_key is None
    Job.objects.create(name="unique_by_user", workspace={"user": 1})


def test_duplicate_inside_a_transaction_leaves_it_usable():
    with transaction.atomic():
        Job.objects.create(name="unique_by_user", workspace={"user": 1})
        with pytest.raises(DuplicateJobError):
            Job.objects.create(name="unique_by_user", workspace={"user": 1})
        Job.objects.create(name="basic")
    assert Job.objects.count() == 2


def test_enqueue_many_validates_everything_first():
    jobs = [Job(name="basic"), Job(name="schema", workspace={})]
    with pytest.raises(InvalidWorkspaceError):
        Job.objects.enqueue_many(jobs)
    assert Job.objects.count() == 0


def test_enqueue_many_inserts_ready_to_run_jobs():
    created = Job.objects.enqueue_many([Job(name="three_steps") for _ in range(25)])
    assert len(created) == 25
    assert set(Job.objects.values_list("next_task", flat=True)) == {"tests.tasks.add_one"}


def test_enqueue_many_raises_djangos_integrity_error_for_a_taken_unique_key():
    Job.objects.create(name="unique_by_user", workspace={"user": 1})
    with pytest.raises(IntegrityError):
        Job.objects.enqueue_many([Job(name="unique_by_user", workspace={"user": 1})])
    assert Job.objects.count() == 1


def test_create_behaves_as_djangos_save_for_a_new_row():
    from django.db.models.signals import post_save, pre_save

    from django_dbq.models import Schedule

    seen = []

    def pre(sender, instance, raw, using, update_fields, **kwargs):
        seen.append(("pre_save", sender, instance._state.adding, raw, using, update_fields))

    def post(sender, instance, created, raw, using, update_fields, **kwargs):
        seen.append(("post_save", sender, instance._state.adding, created, using, update_fields))

    pre_save.connect(pre, sender=Job)
    post_save.connect(post, sender=Job)
    try:
        job = Job.objects.create(name="basic")
    finally:
        pre_save.disconnect(pre, sender=Job)
        post_save.disconnect(post, sender=Job)
    assert seen == [
        ("pre_save", Job, True, False, "default", None),
        ("post_save", Job, False, True, "default", None),
    ]
    stored = Job.objects.get(pk=job.pk)
    assert (stored.state, stored.modified, stored.created) == (
        JobState.NEW,
        job.modified,
        job.created,
    )
    with pytest.raises(ValueError, match="unsaved related object 'schedule'"):
        Job.objects.create(name="basic", schedule=Schedule(name="never saved"))
    assert Job.objects.count() == 1


def test_a_failed_insert_inside_atomic_leaves_the_transaction_to_roll_back():
    from django.db import IntegrityError
    from django.db.transaction import TransactionManagementError

    job = Job.objects.create(name="basic")
    with pytest.raises(TransactionManagementError):
        with transaction.atomic():
            with pytest.raises(IntegrityError):
                Job.objects.create(name="basic", id=job.pk)  # the same primary key
            Job.objects.count()  # Django refuses queries until the block is rolled back
    assert Job.objects.count() == 1


def test_unusual_save_arguments_on_a_new_job_go_through_djangos_save():
    job = Job(name="basic", priority=3)
    job.save(update_fields=["priority"])  # Django inserts a new row with a default pk
    stored = Job.objects.get(pk=job.pk)
    assert (stored.priority, stored.next_task, job._state.adding) == (3, job.next_task, False)


def test_the_primary_key_keeps_jobs_in_the_order_they_were_enqueued():
    # Recent jobs sit together at the end of the key (MariaDB/MySQL store rows in key order).
    first = [Job.objects.create(name="basic").pk for _ in range(5)]
    bulk = [job.pk for job in Job.objects.enqueue_many([Job(name="basic") for _ in range(50)])]
    last = [Job.objects.create(name="basic").pk for _ in range(5)]
    assert list(Job.objects.order_by("pk").values_list("pk", flat=True)) == first + bulk + last


def test_enqueue_many_writes_each_jobs_own_values():
    import datetime

    from django.utils import timezone

    later = timezone.now().replace(microsecond=0) + datetime.timedelta(hours=1)
    jobs = [
        Job(
            name="unique_by_user" if i % 5 == 0 else "basic",
            queue_name=f"q{i % 3}",
            priority=i % 2,
            run_after=later + datetime.timedelta(seconds=i) if i % 4 == 0 else None,
            workspace={"user": i},
        )
        for i in range(40)
    ]
    Job.objects.enqueue_many(jobs)
    stored = {job.pk: job for job in Job.objects.all()}
    assert len(stored) == 40
    columns = ("name", "queue_name", "priority", "run_after", "workspace", "unique_key", "created")
    for job in jobs:
        expected = tuple(getattr(job, column) for column in columns)
        assert tuple(getattr(stored[job.pk], column) for column in columns) == expected
    assert len({job.unique_key for job in jobs if job.name == "unique_by_user"}) == 8


def test_database_vendor_is_supported():
    from django_dbq.engine import SUPPORTED_VENDORS

    assert connection.vendor in SUPPORTED_VENDORS


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"queue_name": "q" * 101}, "queue_name must be a non-empty string of at most 100"),
        ({"queue_name": ""}, "queue_name must be a non-empty string"),
        ({"priority": 40000}, "priority must be a whole number from -32768 to 32767"),
    ],
)
def test_bad_queue_or_priority_is_refused_and_nothing_saved(fields, message):
    from django_dbq.exceptions import EnqueueError

    with pytest.raises(EnqueueError, match=message):
        Job.objects.create(name="basic", **fields)
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_duplicate_in_autocommit_raises_and_the_connection_stays_usable():
    first = Job.objects.create(name="unique_by_user", workspace={"user": 1})
    with pytest.raises(DuplicateJobError) as raised:
        Job.objects.create(name="unique_by_user", workspace={"user": 1})
    assert raised.value.existing == first
    Job.objects.create(name="basic")
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_unique_job_in_autocommit_is_inserted_without_a_transaction_around_it():
    in_transaction = {}

    def record(execute, sql, params, many, context):
        in_transaction[sql] = connection.in_atomic_block
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        Job.objects.create(name="unique_by_user", workspace={"user": 1})
    [insert] = [sql for sql in in_transaction if sql.startswith("INSERT")]
    assert in_transaction[insert] is False


def test_enqueue_follows_a_changed_workspace_schema():
    from django.test import override_settings

    def jobs(minimum):
        schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": minimum}}}
        return {"counted": {"tasks": ["tests.tasks.record"], "workspace_schema": schema}}

    with override_settings(JOBS=jobs(0)):
        Job.objects.create(name="counted", workspace={"n": 0})
        with override_settings(JOBS=jobs(1)):
            with pytest.raises(InvalidWorkspaceError, match="less than the minimum of 1"):
                Job.objects.create(name="counted", workspace={"n": 0})
        Job.objects.create(name="counted", workspace={"n": 0})
    with pytest.raises(UnknownJobError):
        Job.objects.create(name="counted", workspace={"n": 0})
    assert Job.objects.count() == 2


def test_enqueue_follows_a_changed_task_list_and_creation_hook():
    from django.test import override_settings

    with override_settings(JOBS={"basic": ["tests.tasks.add_one", "tests.tasks.record"]}):
        assert Job.objects.create(name="basic").next_task == "tests.tasks.add_one"
    with override_settings(
        JOBS={"basic": {"tasks": ["tests.tasks.record"], "creation_hook": "tests.tasks.on_create"}}
    ):
        job = Job.objects.create(name="basic")
    assert job.next_task == "tests.tasks.record" and job.workspace == {"created_by_hook": True}
