"""manage.py delete_old_jobs shows its progress on a terminal, and stays quiet elsewhere."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """Output that says it is a terminal, as sys.stdout does in an interactive shell."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def seven_old_jobs():
    Job.objects.enqueue_many([Job(name="basic") for _ in range(7)])
    Job.objects.update(
        state=JobState.COMPLETED, created=timezone.now() - datetime.timedelta(hours=2)
    )


def test_progress_is_shown_after_each_batch_on_a_terminal(seven_old_jobs):
    out = Terminal()
    call_command("delete_old_jobs", "--hours", "1", "--batch-size", "3", stdout=out)
    assert out.getvalue() == (
        "\rdeleted 3 jobs...\rdeleted 6 jobs...\rdeleted 7 jobs...\nDeleted 7 old jobs\n"
    )


def test_no_progress_is_written_when_output_is_not_a_terminal(seven_old_jobs):
    out = io.StringIO()
    call_command("delete_old_jobs", "--hours", "1", "--batch-size", "3", stdout=out)
    assert out.getvalue() == "Deleted 7 old jobs\n"


def test_nothing_to_delete_shows_no_progress_line():
    out = Terminal()
    call_command("delete_old_jobs", stdout=out)
    assert out.getvalue() == "Deleted 0 old jobs\n"
