"""Signals sent as jobs move, with the arguments django_dbq/signals.py documents."""

import pytest

from django_dbq import signals
from django_dbq.exceptions import InvalidWorkspaceError
from django_dbq.models import Job, JobState
from django_dbq.testing import drain

pytestmark = pytest.mark.django_db

ALL = ("job_enqueued", "step_started", "step_finished", "job_completed", "job_failed")


@pytest.fixture
def sent():
    """Every signal sent during the test, as (signal name, sender, arguments) in order."""
    received: list[tuple[str, type, dict]] = []
    receivers = {}
    for name in ALL:

        def receiver(sender, signal, _name=name, **kwargs):
            received.append((_name, sender, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield received
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def of(sent, name: str) -> list[dict]:
    return [kwargs for signal, _, kwargs in sent if signal == name]


def test_every_signal_is_sent_by_the_job_model(sent):
    Job.objects.create(name="basic")
    drain()
    assert {sender for _, sender, _ in sent} == {Job}


def test_job_enqueued_is_sent_once_the_row_is_inserted(sent):
    job = Job.objects.create(name="basic")
    [kwargs] = of(sent, "job_enqueued")
    assert kwargs == {"job": job}
    assert Job.objects.filter(pk=kwargs["job"].pk).exists()


def test_job_enqueued_is_not_sent_when_an_existing_job_is_saved(sent):
    job = Job.objects.create(name="basic")
    job.priority = 3
    job.save()
    assert len(of(sent, "job_enqueued")) == 1


def test_job_enqueued_is_not_sent_when_nothing_was_saved(sent):
    with pytest.raises(InvalidWorkspaceError):
        Job.objects.create(name="schema", workspace={})
    assert of(sent, "job_enqueued") == []


def test_job_enqueued_is_sent_for_a_unique_job(sent):
    job = Job.objects.create(name="unique_by_user", workspace={"user": 1})
    assert of(sent, "job_enqueued") == [{"job": job}]


def test_job_enqueued_is_sent_for_each_job_enqueued_in_bulk(sent):
    jobs = Job.objects.enqueue_many([Job(name="basic"), Job(name="three_steps")])
    assert [kwargs["job"] for kwargs in of(sent, "job_enqueued")] == jobs


def test_step_started_names_the_step_index_and_its_task(sent):
    job = Job.objects.create(name="three_steps")
    drain()
    started = of(sent, "step_started")
    assert [(k["job"].pk, k["step"], k["task"]) for k in started] == [
        (job.pk, 0, "tests.tasks.add_one"),
        (job.pk, 1, "tests.tasks.add_one"),
        (job.pk, 2, "tests.tasks.add_one"),
    ]


def test_step_finished_says_how_each_step_ended(sent):
    Job.objects.create(name="three_steps")
    drain()
    finished = of(sent, "step_finished")
    assert [(k["step"], k["outcome"]) for k in finished] == [
        (0, "advanced"),
        (1, "advanced"),
        (2, "completed"),
    ]


def test_step_finished_reports_retries_and_the_final_failure(sent):
    job = Job.objects.create(name="retrying", workspace={"succeed_on": 99})
    for _ in range(3):
        Job.objects.filter(pk=job.pk).update(run_after=None)
        drain()
    assert [k["outcome"] for k in of(sent, "step_finished")] == ["retrying", "retrying", "failed"]


def test_step_finished_reports_a_step_cancelled_while_it_ran(sent):
    def cancel_meanwhile(sender, job, **kwargs):
        Job.objects.filter(pk=job.pk).cancel()

    signals.step_started.connect(cancel_meanwhile)
    try:
        Job.objects.create(name="basic")
        drain()
    finally:
        signals.step_started.disconnect(cancel_meanwhile)
    assert [k["outcome"] for k in of(sent, "step_finished")] == ["cancelled"]
    assert of(sent, "job_completed") == []


def test_job_completed_is_sent_once_after_the_last_step(sent):
    job = Job.objects.create(name="three_steps")
    drain()
    [kwargs] = of(sent, "job_completed")
    assert kwargs["job"].pk == job.pk
    assert kwargs["job"].state == JobState.COMPLETED
    assert [name for name, _, _ in sent][-2:] == ["job_completed", "step_finished"]


def test_job_failed_carries_the_exception(sent):
    job = Job.objects.create(name="failing")
    drain()
    [kwargs] = of(sent, "job_failed")
    assert kwargs["job"].pk == job.pk and kwargs["job"].state == JobState.FAILED
    assert isinstance(kwargs["error"], ValueError) and str(kwargs["error"]) == "boom"
    assert of(sent, "job_completed") == []


def test_job_failed_is_not_sent_while_retries_are_left(sent):
    Job.objects.create(name="retrying", workspace={"succeed_on": 99})
    drain()
    assert of(sent, "job_failed") == []


def test_an_atomic_job_is_announced_completed_only_once_its_transaction_commits(
    sent, settings, django_capture_on_commit_callbacks
):
    settings.JOBS = {
        **settings.JOBS,
        "atomic_ok": {"tasks": ["tests.tasks.add_one"], "atomic": True},
    }
    with django_capture_on_commit_callbacks() as on_commit:
        Job.objects.create(name="atomic_ok")
        drain()
        assert of(sent, "job_completed") == []
    for callback in on_commit:
        callback()
    assert len(of(sent, "job_completed")) == 1
