"""A job's page has Retry / Cancel / Run now buttons: POST, CSRF, permission-checked."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_dbq.models import Job, JobState
from django_dbq.testing import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page_of(client, job: Job) -> str:
    return client.get(reverse("admin:django_dbq_job_change", args=[job.pk])).content.decode()


def button_url(job: Job, action: str) -> str:
    return reverse("admin:django_dbq_job_do", args=[job.pk, action])


def in_state(state: str, **fields) -> Job:
    job = Job.objects.create(name="basic", **fields)
    Job.objects.filter(pk=job.pk).update(state=state)
    return job


def test_a_failed_job_shows_retry_only(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    page = page_of(admin_client, job)
    assert f'action="{button_url(job, "retry")}"' in page
    assert button_url(job, "cancel") not in page and button_url(job, "run_now") not in page


def test_a_waiting_job_shows_cancel_and_run_now_only_when_it_waits_for_a_time(admin_client):
    later = Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    now = Job.objects.create(name="basic")
    assert button_url(later, "cancel") in page_of(admin_client, later)
    assert button_url(later, "run_now") in page_of(admin_client, later)
    assert button_url(now, "run_now") not in page_of(admin_client, now)
    assert button_url(now, "retry") not in page_of(admin_client, now)


def test_a_completed_job_shows_no_button(admin_client):
    job = run_job(Job.objects.create(name="basic"))
    page = page_of(admin_client, job)
    assert "/do/" not in page


def test_retry_button_retries_the_job_and_says_so(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    response = admin_client.post(button_url(job, "retry"), follow=True)
    job.refresh_from_db()
    assert job.state == JobState.READY
    assert response.redirect_chain[-1][0] == reverse("admin:django_dbq_job_change", args=[job.pk])
    assert "Retried 1 job(s)" in [str(m) for m in response.context["messages"]][0]


def test_cancel_button_stops_a_running_job(admin_client):
    job = in_state(JobState.PROCESSING)
    admin_client.post(button_url(job, "cancel"))
    job.refresh_from_db()
    assert job.state == JobState.STOPPING


def test_run_now_button_clears_run_after(admin_client):
    job = Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    admin_client.post(button_url(job, "run_now"))
    job.refresh_from_db()
    assert job.run_after is None


def test_a_button_on_a_job_whose_state_changed_meanwhile_warns_with_its_state_now(admin_client):
    # The page showed Retry while the job was FAILED; another user retried it and a worker
    # completed it before this click.
    job = run_job(Job.objects.create(name="basic"))
    response = admin_client.post(button_url(job, "retry"), follow=True)
    warnings = [m for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert "Completed now" in str(warnings[0])


def test_a_button_does_nothing_on_get(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    assert admin_client.get(button_url(job, "retry")).status_code == 405
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_a_button_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    job = run_job(Job.objects.create(name="failing"))
    assert client.post(button_url(job, "retry")).status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_a_view_only_user_sees_no_button_and_cannot_post_one(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(user)
    job = run_job(Job.objects.create(name="failing"))
    assert button_url(job, "retry") not in page_of(client, job)
    assert client.post(button_url(job, "retry")).status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_an_unknown_action_is_not_found(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    assert admin_client.post(button_url(job, "explode")).status_code == 404
