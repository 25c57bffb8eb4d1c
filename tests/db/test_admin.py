"""The Job admin: a list that stays cheap on huge tables, a readable detail page, safe actions."""

import datetime
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_dbq.admin import listing
from django_dbq.models import Job, JobState
from django_dbq.testing import drain, run_job

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_dbq_job_changelist")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The admin_client fixture creates a user; the default hasher would dominate run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_url(job: Job) -> str:
    return reverse("admin:django_dbq_job_change", args=[job.pk])


def in_state(state: str, name: str = "basic", **fields) -> Job:
    job = Job.objects.create(name=name, **fields)
    Job.objects.filter(pk=job.pk).update(state=state)
    job.refresh_from_db()
    return job


def act(client, action: str, jobs=(), **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(job.pk) for job in jobs], **extra}
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def job_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "django_dbq_job" in q["sql"]]


# -- the list -----------------------------------------------------------------------------------


def test_list_shows_state_name_queue_and_step_k_of_n(admin_client):
    job = Job.objects.create(name="three_steps", queue_name="emails", priority=5)
    Job.objects.filter(pk=job.pk).update(step=1, state=JobState.READY)
    page = admin_client.get(CHANGELIST).content.decode()
    assert str(job.pk)[-8:] in page
    assert "Ready" in page and "three_steps" in page and "emails" in page
    assert "2 of 3" in page


def test_completed_job_shows_all_steps_done_and_its_duration(admin_client):
    Job.objects.create(name="three_steps")
    drain()
    page = admin_client.get(CHANGELIST).content.decode()
    assert "3 of 3" in page
    assert re.search(r"\d\.\d\ds", page)


def test_a_job_whose_name_left_jobs_is_still_listed_and_shown(admin_client):
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(name="removed_since")
    assert "1 of ?" in admin_client.get(CHANGELIST).content.decode()
    assert admin_client.get(change_url(job)).status_code == 200


def test_list_never_counts_the_whole_table(admin_client):
    for _ in range(3):
        Job.objects.create(name="basic")
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(CHANGELIST)
    counts = [sql for sql in job_queries(captured) if "COUNT(" in sql.upper()]
    assert counts, "the page count should still be computed"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_queue_filter_reads_only_active_jobs(admin_client):
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(CHANGELIST)
    distinct = [sql for sql in job_queries(captured) if "DISTINCT" in sql.upper()]
    assert len(distinct) == 1
    assert "state" in distinct[0] and "IN" in distinct[0].upper()


def test_list_does_not_load_workspaces_or_tracebacks(admin_client):
    Job.objects.create(name="basic", workspace={"big": "x" * 1000})
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(CHANGELIST)
    page_query = job_queries(captured)[-1]
    assert '"workspace"' not in page_query.replace("`", '"')
    assert '"traceback"' not in page_query.replace("`", '"')


def test_a_list_longer_than_the_count_limit_says_so_instead_of_counting(admin_client, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_LIMIT", 3)
    for _ in range(5):
        Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST).content.decode()
    assert "3+ jobs" in page


def test_a_short_list_shows_its_exact_count(admin_client):
    Job.objects.create(name="basic")
    Job.objects.create(name="basic")
    assert "2 jobs" in admin_client.get(CHANGELIST).content.decode()


def test_waiting_and_running_jobs_are_listed_before_finished_ones(admin_client):
    done = run_job(Job.objects.create(name="basic"))
    waiting = Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST).content.decode()
    assert page.index(str(waiting.pk)[-8:]) < page.index(str(done.pk)[-8:])


def test_filter_by_state(admin_client):
    failed = in_state(JobState.FAILED)
    new = Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST, {"state__exact": "FAILED"}).content.decode()
    assert str(failed.pk)[-8:] in page and str(new.pk)[-8:] not in page


def test_filter_by_name_lists_every_name_in_jobs_without_reading_jobs(admin_client):
    page = admin_client.get(CHANGELIST).content.decode()
    for name in ("basic", "three_steps", "unique_by_user", "process_pipeline"):
        assert f"?name={name}" in page


def test_filter_by_name(admin_client):
    basic = Job.objects.create(name="basic")
    other = Job.objects.create(name="three_steps")
    page = admin_client.get(CHANGELIST, {"name": "three_steps"}).content.decode()
    assert str(other.pk)[-8:] in page and str(basic.pk)[-8:] not in page


def test_filter_by_queue_lists_queues_of_active_jobs(admin_client):
    Job.objects.create(name="basic", queue_name="emails")
    in_state(JobState.COMPLETED, queue_name="gone")
    page = admin_client.get(CHANGELIST).content.decode()
    assert "?queue_name=emails" in page and "?queue_name=default" in page
    assert "?queue_name=gone" not in page


def test_filter_by_a_queue_with_only_finished_jobs_still_works(admin_client):
    old = in_state(JobState.COMPLETED, queue_name="gone")
    page = admin_client.get(CHANGELIST, {"queue_name": "gone"}).content.decode()
    assert str(old.pk)[-8:] in page


def test_search_by_id_with_or_without_dashes(admin_client):
    job = Job.objects.create(name="basic")
    Job.objects.create(name="basic")
    for term in (str(job.pk), job.pk.hex):
        response = admin_client.get(CHANGELIST, {"q": term})
        assert [row.pk for row in response.context["cl"].result_list] == [job.pk]


def test_search_by_the_short_id_the_list_shows(admin_client):
    job = Job.objects.create(name="basic")
    Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST).content.decode()
    short = str(job.pk)[-8:]
    assert f">{short}</a>" in page
    for term in (short, short.upper()):
        response = admin_client.get(CHANGELIST, {"q": term})
        assert [row.pk for row in response.context["cl"].result_list] == [job.pk]


def test_search_by_exact_name(admin_client):
    job = Job.objects.create(name="three_steps")
    Job.objects.create(name="basic")
    response = admin_client.get(CHANGELIST, {"q": "three_steps"})
    assert [row.pk for row in response.context["cl"].result_list] == [job.pk]
    assert list(admin_client.get(CHANGELIST, {"q": "three"}).context["cl"].result_list) == []


def test_jobs_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:django_dbq_job_add")).status_code == 403


# -- the detail page ----------------------------------------------------------------------------


def test_detail_shows_workspace_as_indented_json(admin_client):
    job = run_job(Job.objects.create(name="basic", workspace={"user": 3}))
    page = admin_client.get(change_url(job)).content.decode()
    assert "{\n  &quot;ran&quot;: [\n" in page
    assert "<textarea" not in page


def test_detail_shows_error_and_traceback_of_a_failed_job(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    page = admin_client.get(change_url(job)).content.decode()
    assert "builtins.ValueError: boom" in page
    assert "raise ValueError(&quot;boom&quot;)" in page


def test_a_running_job_is_read_only(admin_client):
    job = in_state(JobState.PROCESSING)
    page = admin_client.get(change_url(job)).content.decode()
    assert 'name="priority"' not in page and "<textarea" not in page


def test_a_waiting_job_can_be_edited(admin_client):
    job = Job.objects.create(name="basic")
    page = admin_client.get(change_url(job)).content.decode()
    assert 'name="priority"' in page and 'name="workspace"' in page


def change_form(client, job: Job, **changes) -> dict:
    form = client.get(change_url(job)).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data["workspace"] = form["workspace"].value()
    data.update(changes)
    return {key: "" if value is None else value for key, value in data.items()}


def test_editing_a_waiting_job_writes_the_changed_fields(admin_client):
    job = Job.objects.create(name="basic", workspace={"a": 1})
    data = change_form(admin_client, job, priority=7, workspace='{"a": 2}')
    admin_client.post(change_url(job), data)
    job.refresh_from_db()
    assert (job.priority, job.workspace, job.state) == (7, {"a": 2}, JobState.NEW)


def test_edit_is_refused_when_a_worker_claimed_the_job_meanwhile(admin_client):
    job = Job.objects.create(name="basic")
    data = change_form(admin_client, job, priority=7)
    # A worker runs a step and hands the job back, between showing and saving the form.
    Job.objects.filter(pk=job.pk).update(
        modified=timezone.now() + datetime.timedelta(seconds=1), step=0
    )
    response = admin_client.post(change_url(job), data, follow=True)
    job.refresh_from_db()
    assert job.priority == 0
    assert any("was not saved" in message for message in messages_of(response))


def test_edited_workspace_must_match_the_job_schema(admin_client):
    job = Job.objects.create(name="schema", workspace={"url": "u"})
    data = change_form(admin_client, job, workspace='{"count": 1}')
    response = admin_client.post(change_url(job), data)
    assert "&#x27;url&#x27; is a required property" in response.content.decode()
    job.refresh_from_db()
    assert job.workspace == {"url": "u"}


LIMITED = {
    "per_account": {"tasks": ["tests.tasks.record"], "concurrency": {"key": ["a"], "limit": 1}}
}


def test_an_edited_workspace_moves_a_waiting_job_to_its_new_key(admin_client, settings):
    settings.JOBS = {**settings.JOBS, **LIMITED}
    job = Job.objects.create(name="per_account", workspace={"a": 1})
    admin_client.post(change_url(job), change_form(admin_client, job, workspace='{"a": 2}'))
    job.refresh_from_db()
    assert job.concurrency_key == "per_account\x1f[2]"


def test_an_edited_workspace_must_keep_the_key_fields(admin_client, settings):
    settings.JOBS = {**settings.JOBS, **LIMITED}
    job = Job.objects.create(name="per_account", workspace={"a": 1})
    data = change_form(admin_client, job, workspace='{"b": 1}')
    response = admin_client.post(change_url(job), data)
    assert "has no &#x27;a&#x27;" in response.content.decode()
    job.refresh_from_db()
    assert job.workspace == {"a": 1}


def test_a_view_only_user_sees_a_read_only_page(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(user)
    job = Job.objects.create(name="basic")
    page = client.get(change_url(job)).content.decode()
    assert 'name="priority"' not in page
    assert "seen_modified" not in page.lower().replace(" ", "_")


# -- actions ------------------------------------------------------------------------------------


def test_retry_action_retries_failed_jobs(admin_client):
    job = run_job(Job.objects.create(name="failing"))
    response = act(admin_client, "retry_jobs", [job])
    job.refresh_from_db()
    assert job.state == JobState.READY
    assert "Retried 1 job(s)" in messages_of(response)[0]


def test_retry_action_reports_a_unique_job_whose_key_is_taken(admin_client):
    old = Job.objects.create(name="unique_by_user", workspace={"user": 1})
    Job.objects.filter(pk=old.pk).update(state=JobState.FAILED, unique_key=None)
    Job.objects.create(name="unique_by_user", workspace={"user": 1})
    response = act(admin_client, "retry_jobs", [old])
    assert "Retried 0 job(s)" in messages_of(response)[0]
    assert "not retried because an active job with the same key" in messages_of(response)[1]
    assert str(old.pk) in messages_of(response)[1]


def test_cancel_action_cancels_waiting_and_stops_running_jobs(admin_client):
    waiting = Job.objects.create(name="basic")
    running = in_state(JobState.PROCESSING)
    response = act(admin_client, "cancel_jobs", [waiting, running])
    waiting.refresh_from_db()
    running.refresh_from_db()
    assert (waiting.state, running.state) == (JobState.CANCELLED, JobState.STOPPING)
    assert "Cancelled 2 job(s)" in messages_of(response)[0]


def test_run_now_action_clears_run_after(admin_client):
    job = Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(1))
    act(admin_client, "run_now", [job])
    job.refresh_from_db()
    assert job.run_after is None


def test_delete_action_asks_for_confirmation_first(admin_client):
    job = Job.objects.create(name="basic")
    response = act(admin_client, "delete_jobs", [job])
    assert "Delete 1 job?" in response.content.decode()
    assert Job.objects.filter(pk=job.pk).exists()


def test_delete_action_deletes_once_confirmed(admin_client):
    doomed = in_state(JobState.COMPLETED)
    kept = in_state(JobState.COMPLETED)
    act(admin_client, "delete_jobs", [doomed], post="yes")
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]


def test_delete_across_all_pages_deletes_only_the_filtered_jobs(admin_client):
    failed = [in_state(JobState.FAILED) for _ in range(3)]
    kept = Job.objects.create(name="basic")
    data = {"action": "delete_jobs", "select_across": "1", "index": "0", "post": "yes"}
    data[ACTION_CHECKBOX_NAME] = [str(failed[0].pk)]
    admin_client.post(CHANGELIST + "?state__exact=FAILED", data)
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_default_delete_action_is_replaced(admin_client):
    page = admin_client.get(CHANGELIST).content.decode()
    assert 'value="delete_jobs"' in page and 'value="delete_selected"' not in page


def test_actions_need_the_change_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(user)
    page = client.get(CHANGELIST).content.decode()
    assert 'value="cancel_jobs"' not in page and 'value="retry_jobs"' not in page


# -- schedules (the Schedule admin's own tests are in test_schedule_admin.py) ------------------


def test_a_job_links_back_to_the_schedule_that_spawned_it(admin_client):
    from django_dbq.models import Schedule

    schedule = Schedule(name="nightly", job_name="basic", cron="0 3 * * *")
    schedule.save()
    job = schedule.trigger()
    page = admin_client.get(change_url(job)).content.decode()
    assert reverse("admin:django_dbq_schedule_change", args=[schedule.pk]) in page


def test_enabling_a_schedule_whose_job_left_jobs_is_reported_not_a_server_error(admin_client):
    from django_dbq.models import Schedule

    schedule = Schedule(name="orphan", job_name="basic", cron="0 3 * * *", enabled=False)
    schedule.save()
    Schedule.objects.filter(pk=schedule.pk).update(job_name="removed_since")
    response = admin_client.post(
        reverse("admin:django_dbq_schedule_changelist"),
        {"action": "enable_schedules", ACTION_CHECKBOX_NAME: [schedule.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert any("orphan: " in m and "unknown job name" in m for m in messages_of(response))
    assert not Schedule.objects.get(pk=schedule.pk).enabled


# -- polish -------------------------------------------------------------------------------------


def test_empty_cells_show_one_symbol(admin_client):
    Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST).content.decode()
    assert '<td class="field-runs_after">—</td>' in page
    assert '<td class="field-duration">—</td>' in page
    assert ">-</td>" not in page


def test_dates_in_the_list_are_compact(admin_client):
    job = Job.objects.create(name="basic")
    page = admin_client.get(CHANGELIST).content.decode()
    assert timezone.localtime(job.created).strftime("%Y-%m-%d %H:%M:%S") in page


def test_the_list_loads_its_stylesheet_from_static_files(admin_client):
    page = admin_client.get(CHANGELIST).content.decode()
    assert "django_dbq/admin.css" in page
    assert "//cdn" not in page


def test_the_name_filter_lists_the_django_tasks_name_when_the_backend_is_configured(
    admin_client,
):
    assert "?name=django_dbq.tasks" in admin_client.get(CHANGELIST).content.decode()


def test_the_name_filter_omits_the_django_tasks_name_without_backend_or_such_jobs(
    admin_client, settings
):
    settings.TASKS = {}
    assert "?name=django_dbq.tasks" not in admin_client.get(CHANGELIST).content.decode()


def test_the_name_filter_lists_the_django_tasks_name_while_such_jobs_are_active(
    admin_client, settings
):
    settings.TASKS = {}
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(name="django_dbq.tasks")
    assert "?name=django_dbq.tasks" in admin_client.get(CHANGELIST).content.decode()
