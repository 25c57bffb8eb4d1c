"""The Schedule admin: list, add, edit, and the enable / disable / trigger actions."""

import datetime

import pytest
from django.urls import reverse

from django_dbq.models import Job, Schedule

pytestmark = pytest.mark.django_db
UTC = datetime.timezone.utc


def make(name="nightly", **fields):
    fields.setdefault("job_name", "basic")
    fields.setdefault("cron", "0 3 * * *")
    schedule = Schedule(name=name, **fields)
    schedule.save()
    return schedule


def changelist():
    return reverse("admin:django_dbq_schedule_changelist")


def test_the_list_shows_each_schedule_with_its_rule_and_next_run(admin_client):
    make()
    make("often", cron="", interval=datetime.timedelta(minutes=15), enabled=False)
    page = admin_client.get(changelist()).content.decode()
    assert "0 3 * * *" in page
    assert "every 15m" in page
    assert "(disabled)" in page


def test_a_schedule_can_be_added_with_an_interval_typed_as_text(admin_client):
    response = admin_client.post(
        reverse("admin:django_dbq_schedule_add"),
        {
            "name": "often",
            "job_name": "basic",
            "cron": "",
            "interval": "1h30m",
            "workspace": '{"a": 1}',
            "queue_name": "default",
            "priority": "0",
            "catch_up": "skip",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = Schedule.objects.get(name="often")
    assert schedule.interval == datetime.timedelta(minutes=90)
    assert schedule.workspace == {"a": 1}
    assert schedule.next_run_at is not None


def test_an_invalid_cron_expression_is_shown_on_the_form(admin_client):
    response = admin_client.post(
        reverse("admin:django_dbq_schedule_add"),
        {
            "name": "bad",
            "job_name": "basic",
            "cron": "0 25 * * *",
            "workspace": "{}",
            "queue_name": "default",
            "priority": "0",
            "catch_up": "skip",
        },
    )
    assert response.status_code == 200
    assert "invalid cron expression" in response.content.decode()
    assert not Schedule.objects.exists()


def test_the_definition_of_a_schedule_declared_in_settings_is_read_only(admin_client):
    schedule = make()
    Schedule.objects.filter(pk=schedule.pk).update(settings_hash="f" * 64)
    page = admin_client.get(reverse("admin:django_dbq_schedule_change", args=[schedule.pk]))
    form = page.context["adminform"].form
    assert "cron" not in form.fields
    assert "enabled" in form.fields
    assert "settings (JOBS)" in page.content.decode()


def test_the_actions_disable_enable_and_trigger(admin_client):
    schedule = make()

    def act(action):
        return admin_client.post(
            changelist(), {"action": action, "_selected_action": [schedule.pk]}, follow=True
        )

    act("disable_schedules")
    assert not Schedule.objects.get().enabled
    act("enable_schedules")
    assert Schedule.objects.get().enabled
    response = act("trigger_now")
    assert "Enqueued 1 job(s)." in response.content.decode()
    assert Job.objects.get().schedule_id == schedule.pk


def test_the_detail_page_lists_recent_jobs(admin_client):
    schedule = make()
    job = schedule.trigger()
    page = admin_client.get(reverse("admin:django_dbq_schedule_change", args=[schedule.pk]))
    assert str(job.pk) in page.content.decode()
    assert "triggered by hand" in page.content.decode()


def test_the_list_writes_next_and_last_run_in_one_format(admin_client):
    schedule = make()
    Schedule.objects.filter(pk=schedule.pk).update(
        last_run_at=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        next_run_at=datetime.datetime(2030, 1, 3, 3, 0, 0, tzinfo=UTC),
    )
    page = admin_client.get(changelist()).content.decode()
    assert ">2030-01-02 03:04:05</time>" in page
    assert ">2030-01-03 03:00:00</time>" in page


def test_the_list_shows_empty_values_with_one_symbol(admin_client):
    make()
    page = admin_client.get(changelist()).content.decode()
    assert '<td class="field-last_run">—</td>' in page
    assert ">-</td>" not in page
