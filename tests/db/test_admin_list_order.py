"""The job list's order: running, waiting, then finished jobs; newest first; cheap on any size."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_dbq.admin.jobs import JobAdmin
from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_dbq_job_changelist")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def job_in(state: str, minutes_ago: int) -> Job:
    job = Job.objects.create(name="basic")
    created = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Job.objects.filter(pk=job.pk).update(state=state, created=created)
    return job


def listed_ids(client, **params) -> list[str]:
    response = client.get(CHANGELIST, params)
    return [str(job.pk) for job in response.context["cl"].result_list]


def test_jobs_are_listed_running_then_waiting_then_failed_cancelled_completed(admin_client):
    order = ["PROCESSING", "STOPPING", "READY", "NEW", "FAILED", "CANCELLED", "COMPLETED"]
    # The running job is the oldest, the completed one the newest: newest first alone would
    # list them the other way round. Seven jobs fit on one page, where Django's ChangeList
    # lists its queryset without asking the paginator for a page.
    jobs = [job_in(state, minutes_ago=len(order) - index) for index, state in enumerate(order)]
    assert listed_ids(admin_client) == [str(job.pk) for job in jobs]


def test_jobs_of_one_state_are_listed_newest_first(admin_client):
    old = job_in(JobState.COMPLETED, minutes_ago=10)
    new = job_in(JobState.COMPLETED, minutes_ago=1)
    assert listed_ids(admin_client) == [str(new.pk), str(old.pk)]


def test_the_second_page_continues_where_the_first_ended(admin_client, monkeypatch):
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    states = ["READY", "READY", "NEW", "FAILED", "COMPLETED"]
    jobs = [job_in(state, minutes_ago=index) for index, state in enumerate(states)]
    pages = [listed_ids(admin_client, p=page) for page in (1, 2, 3)]
    assert pages == [[str(job.pk) for job in jobs[i : i + 2]] for i in (0, 2, 4)]


def test_show_all_lists_in_state_order_too(admin_client, monkeypatch):
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    completed = job_in(JobState.COMPLETED, minutes_ago=1)
    new = job_in(JobState.NEW, minutes_ago=2)
    running = job_in(JobState.PROCESSING, minutes_ago=3)
    assert listed_ids(admin_client, all="") == [str(running.pk), str(new.pk), str(completed.pk)]


def test_a_state_filter_lists_only_that_state(admin_client):
    job_in(JobState.READY, minutes_ago=1)
    failed = job_in(JobState.FAILED, minutes_ago=2)
    assert listed_ids(admin_client, state__exact="FAILED") == [str(failed.pk)]


def test_every_query_of_the_list_reads_one_state_and_a_bounded_number_of_rows(
    admin_client, monkeypatch
):
    monkeypatch.setattr(JobAdmin, "list_per_page", 2)
    for index, state in enumerate(["READY", "NEW", "FAILED", "COMPLETED", "COMPLETED"]):
        job_in(state, minutes_ago=index)
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(CHANGELIST, {"p": 2})
    reads = [
        q["sql"]
        for q in captured.captured_queries
        if '"created"' in q["sql"].replace("`", '"') and "DISTINCT" not in q["sql"].upper()
    ]
    assert reads
    # No ORDER BY over the whole table (a CASE on the state, or the state itself): each read
    # is one state's range of the (state, created) index, with a LIMIT.
    assert all("LIMIT" in sql.upper() and "CASE" not in sql.upper() for sql in reads), reads
