"""The key=value event log reads in the order steps ran, also with outcomes written in groups."""

import logging
import re

import pytest
from django.test import override_settings

from django_dbq.models import Job
from django_dbq.testing import drain

pytestmark = pytest.mark.django_db


def events(caplog) -> list[str]:
    return [
        re.sub(r" (job|id|task|attempt|duration)=\S+", "", record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith(("event=step_started", "event=step_succeeded"))
    ]


@override_settings(DBQ_OUTCOME_DELAY=60)  # every outcome waits for a grouped write
def test_a_grouped_steps_success_is_logged_when_the_step_ends_before_the_next_step_starts(caplog):
    Job.objects.create(name="three_steps")
    with caplog.at_level(logging.INFO, logger="django_dbq"):
        drain()
    assert events(caplog) == [
        "event=step_started step=1/3",
        "event=step_succeeded step=1/3 outcome=advanced write=grouped",
        "event=step_started step=2/3",
        "event=step_succeeded step=2/3 outcome=advanced write=grouped",
        "event=step_started step=3/3",
        "event=step_succeeded step=3/3 outcome=completed write=grouped",
    ]


@pytest.mark.django_db(transaction=True)  # the log waits for a real commit
def test_an_atomic_steps_success_is_logged_once_committed(caplog):
    Job.objects.create(name="atomic")
    with caplog.at_level(logging.INFO, logger="django_dbq"):
        drain()
    assert "event=step_succeeded step=1/2 outcome=advanced write=committed" in events(caplog)
