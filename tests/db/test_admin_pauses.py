"""The admin shows progress bars and paused queues, pauses queues and resumes them."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from django_dbq import pauses
from django_dbq.models import Job, JobState, QueuePause

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:django_dbq_job_changelist")
PAUSES = reverse("admin:django_dbq_queuepause_changelist")
ADD_PAUSE = reverse("admin:django_dbq_queuepause_add")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def running_with_progress(done, total, message="") -> Job:
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner="w1",
        progress_done=done,
        progress_total=total,
        progress_message=message,
        progress_at=timezone.now(),
    )
    return job


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_job_list_shows_a_progress_bar(admin_client):
    running_with_progress(3, 4, "copying")
    html = admin_client.get(JOBS).content.decode()
    assert 'style="--dbq-done: 75%" title="75% (3 of 4: copying)"' in html
    assert 'aria-valuenow="75"' in html and "1 of 1</span>" in html


def test_a_count_without_a_total_is_shown_without_a_bar(admin_client):
    running_with_progress(12, None)
    html = admin_client.get(JOBS).content.decode()
    assert "1 of 1 (12 done)" in html and "dbq-progress-under" not in html


def test_the_job_page_shows_the_bar_the_counts_and_the_message(admin_client):
    job = running_with_progress(1, 8, "resizing")
    html = admin_client.get(reverse("admin:django_dbq_job_change", args=[job.pk])).content
    html = html.decode()
    assert "dbq-progress dbq-progress-wide" in html
    assert "12% (1 of 8): resizing, reported " in html


def test_the_job_list_names_the_paused_queues(admin_client):
    pauses.pause("emails")
    pauses.pause("default", "basic")
    html = admin_client.get(JOBS).content.decode()
    assert "Paused (no new job starts until resumed):" in html
    assert "<strong>job basic in queue default</strong>, <strong>queue emails</strong>" in html
    assert f'href="{PAUSES}"' in html


def test_no_notice_when_nothing_is_paused(admin_client):
    assert "dbq-paused-notice" not in admin_client.get(JOBS).content.decode()


def test_the_job_list_action_pauses_the_queues_of_the_selected_jobs(admin_client):
    jobs = [Job.objects.create(name="basic", queue_name=q) for q in ("emails", "emails", "b")]
    pauses.pause("b")
    data = {"action": "pause_queues", ACTION_CHECKBOX_NAME: [str(j.pk) for j in jobs]}
    response = admin_client.post(JOBS, data, follow=True)
    assert messages_of(response)[0].startswith("Paused 1 queue(s): emails; already paused: b.")
    row = QueuePause.objects.get(queue_name="emails")
    assert row.job_name == "" and row.paused_by == "admin:admin"


def test_adding_a_pause_pauses_the_queue_and_records_who(admin_client):
    data = {"queue_name": "emails", "job_name": "send", "reason": "provider down"}
    admin_client.post(ADD_PAUSE, data, follow=True)
    row = QueuePause.objects.get()
    assert (row.queue_name, row.job_name, row.reason) == ("emails", "send", "provider down")
    assert row.paused_by == "admin:admin"


def test_an_empty_queue_name_is_refused(admin_client):
    response = admin_client.post(ADD_PAUSE, {"queue_name": " ", "job_name": ""})
    assert "the queue name must not be empty" in response.content.decode()
    assert not QueuePause.objects.exists()


def test_the_paused_list_shows_each_pause_and_resumes_the_selected(admin_client):
    pauses.pause("emails", reason="deploy")
    pauses.pause("default", "basic")
    html = admin_client.get(PAUSES).content.decode()
    assert "all jobs" in html and "deploy" in html and "basic" in html
    keep, resume = (
        QueuePause.objects.get(queue_name="default"),
        QueuePause.objects.get(queue_name="emails"),
    )
    data = {"action": "resume_queues", ACTION_CHECKBOX_NAME: [str(resume.pk)]}
    response = admin_client.post(PAUSES, data, follow=True)
    assert messages_of(response) == ["Resumed 1 paused queue(s) or job name(s)."]
    assert list(QueuePause.objects.values_list("pk", flat=True)) == [keep.pk]


def test_a_pause_is_shown_read_only_and_resumed_not_bulk_deleted(admin_client):
    pauses.pause("emails")
    row = QueuePause.objects.get()
    assert 'value="delete_selected"' not in admin_client.get(PAUSES).content.decode()
    page = admin_client.get(reverse("admin:django_dbq_queuepause_change", args=[row.pk]))
    assert 'name="_save"' not in page.content.decode()


def test_deleting_a_pause_on_its_page_resumes_the_queue(admin_client, monkeypatch):
    pauses.pause("emails")
    row = QueuePause.objects.get()
    woken = []
    monkeypatch.setattr(pauses, "wake_queue", lambda alias, queue: woken.append(queue))
    delete = reverse("admin:django_dbq_queuepause_delete", args=[row.pk])
    admin_client.post(delete, {"post": "yes"}, follow=True)
    assert not QueuePause.objects.exists() and woken == ["emails"]
