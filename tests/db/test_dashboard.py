"""The admin dashboard: per queue throughput, failures, depth, oldest wait, live workers."""

import datetime
import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_dbq.admin.dashboard import dashboard_data, live_workers, split_worker_id
from django_dbq.models import Job, JobState
from django_dbq.testing import run_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_stray_worker_rows")]

DASHBOARD = reverse("admin:django_dbq_dashboard_changelist")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def finished(state: str, minutes_ago: float, queue_name: str = "default", **fields) -> Job:
    job = Job.objects.create(name="basic", queue_name=queue_name)
    at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Job.objects.filter(pk=job.pk).update(state=state, finished_at=at, started_at=at, **fields)
    return job


def running(owner: str, queue_name: str = "default") -> Job:
    job = Job.objects.create(name="basic", queue_name=queue_name)
    expires = timezone.now() + datetime.timedelta(seconds=30)
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING, lease_owner=owner, lease_expires_at=expires
    )
    return job


def test_the_dashboard_is_listed_on_the_admin_index(admin_client):
    assert DASHBOARD in admin_client.get(reverse("admin:index")).content.decode()


def test_the_job_list_links_to_the_dashboard(admin_client):
    page = admin_client.get(reverse("admin:django_dbq_job_changelist")).content.decode()
    assert f'href="{DASHBOARD}"' in page


def test_it_shows_each_queue_with_its_depth_by_state_and_oldest_waiting_job(admin_client):
    old = Job.objects.create(name="basic", queue_name="emails")
    Job.objects.filter(pk=old.pk).update(created=timezone.now() - datetime.timedelta(minutes=5))
    Job.objects.create(name="basic", queue_name="emails")
    page = admin_client.get(DASHBOARD).content.decode()
    assert "Queue emails" in page
    assert re.search(r"state__exact=NEW&amp;queue_name=emails\">2<", page)
    assert re.search(r"<td>5m \d+s</td>", page)


def test_it_counts_the_jobs_completed_and_failed_in_the_last_hour_per_queue(admin_client):
    finished(JobState.COMPLETED, 1)
    finished(JobState.COMPLETED, 30)
    finished(JobState.FAILED, 2)
    finished(JobState.COMPLETED, 90)  # before the window
    finished(JobState.COMPLETED, 1, queue_name="emails")
    queues = {stats.name: stats for stats in dashboard_data()["queues"]}
    assert queues["default"].finished[JobState.COMPLETED] == 2
    assert queues["default"].finished[JobState.FAILED] == 1
    assert sum(queues["default"].completed_per_minute) == 2
    assert sum(queues["default"].failed_per_minute) == 1
    assert queues["emails"].finished[JobState.COMPLETED] == 1


def test_it_draws_the_hour_as_an_inline_svg_chart(admin_client):
    finished(JobState.COMPLETED, 1)
    finished(JobState.FAILED, 1)
    page = admin_client.get(DASHBOARD).content.decode()
    assert '<svg class="dbq-chart"' in page
    assert "1 completed, 1 failed in the last 60 minutes" in page


def test_it_lists_live_workers_with_host_pid_and_current_job(admin_client):
    job = running("web-1:4242:abcd1234", queue_name="emails")
    expired = Job.objects.create(name="basic")
    Job.objects.filter(pk=expired.pk).update(
        state=JobState.PROCESSING,
        lease_owner="gone:1:ffff0000",
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )
    page = admin_client.get(DASHBOARD).content.decode()
    assert "<td>web-1</td>" in page and "<td>4242</td>" in page
    assert reverse("admin:django_dbq_job_change", args=[job.pk]) in page
    assert "gone:1:ffff0000" not in page


def test_a_worker_running_two_steps_is_listed_once():
    running("web-1:4242:abcd1234")
    running("web-1:4242:abcd1234")
    [worker] = live_workers(timezone.now())
    assert len(worker.jobs) == 2


def test_a_worker_id_is_split_into_host_and_pid():
    assert split_worker_id("web-1.example.com:4242:abcd1234") == ("web-1.example.com", "4242")
    assert split_worker_id("odd-id") == ("odd-id", "")


def test_it_lists_recent_failures_newest_first_with_a_link_to_each(admin_client):
    older = finished(JobState.FAILED, 10, last_error="ValueError: old")
    newer = finished(JobState.FAILED, 1, last_error="KeyError: new\nmore lines")
    failures = dashboard_data()["failures"]
    assert [row["pk"] for row in failures] == [newer.pk, older.pk]
    assert failures[0]["last_error"] == "KeyError: new"
    page = admin_client.get(DASHBOARD).content.decode()
    assert reverse("admin:django_dbq_job_change", args=[newer.pk]) in page


def test_it_refreshes_itself_with_a_pause_button_and_nothing_from_a_cdn(admin_client):
    page = admin_client.get(DASHBOARD).content.decode()
    assert 'id="dbq-pause"' in page and "django_dbq/dashboard.js" in page
    assert 'data-refresh-seconds="5"' in page
    assert "//cdn" not in page and 'src="http' not in page


def test_a_user_who_may_view_jobs_sees_it(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 200


def test_a_staff_user_who_may_not_view_jobs_does_not(client, django_user_model):
    user = django_user_model.objects.create_user("other", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403


def test_it_shows_a_failed_job_run_by_the_engine(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    page = admin_client.get(DASHBOARD).content.decode()
    assert str(job.pk)[-8:] in page


# -- on a large table ---------------------------------------------------------------------------

FINISHED_ROWS = 50_000


@pytest.fixture
def many_finished_jobs():
    """50,000 jobs finished over the last 30 days (1 in 50 FAILED), a few still active."""
    Job.objects.enqueue_many([Job(name="basic") for _ in range(FINISHED_ROWS)])
    now = timezone.now()
    ids = list(Job.objects.order_by().values_list("pk", flat=True))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        Job.objects.filter(pk__in=chunk).update(
            state=JobState.COMPLETED,
            finished_at=now - datetime.timedelta(days=30 * start / len(ids)),
        )
        Job.objects.filter(pk__in=chunk[::50]).update(state=JobState.FAILED)
    Job.objects.create(name="basic")
    running("web-1:1:abcdef01")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE django_dbq_job")
    return now


def test_it_needs_six_queries_however_many_jobs_finished(
    many_finished_jobs, django_assert_num_queries
):
    with django_assert_num_queries(6):
        data = dashboard_data()
    assert data["queues"] and data["workers"] and len(data["failures"]) == 10


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's EXPLAIN")
def test_no_query_reads_the_whole_table_on_postgresql(many_finished_jobs):
    with CaptureQueriesContext(connection) as captured:
        dashboard_data()
    with connection.cursor() as cursor:
        # The job table is the big one; the worker rows are a few per worker process.
        for query in captured.captured_queries:
            if "django_dbq_workerprocess" in query["sql"]:
                continue
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on django_dbq_job" not in plan, (query["sql"], plan)
            assert "Index" in plan, plan


def test_an_idle_worker_process_is_listed_from_its_row_with_its_running_jobs():
    from django_dbq.models import WorkerProcess

    now = timezone.now()
    WorkerProcess.objects.create(
        id="web-2:77:proc",
        queue_name="emails",
        host="web-2",
        pid=77,
        concurrency=2,
        worker_ids=["web-2:77:loop1", "web-2:77:loop2"],
        started_at=now,
        last_seen=now,
    )
    job = running("web-2:77:loop2", queue_name="emails")

    (worker,) = [w for w in live_workers(timezone.now()) if w.host == "web-2"]

    assert (worker.worker_id, worker.host, worker.pid, worker.threads) == (
        "web-2:77:proc",
        "web-2",
        "77",
        2,
    )
    assert worker.jobs == [(str(job.pk), job.name)]
    assert worker.last_seen is not None
