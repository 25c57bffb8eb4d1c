"""The keyed claim: jobs under a concurrency or rate limit, claimed only while their key has room.

Run against the engine of the current database (PostgreSQL, MariaDB/MySQL, SQLite).
"""

import datetime
import threading

import pytest
from django.db import connections
from django.utils import timezone

from django_dbq import testing
from django_dbq.engine import engine_for
from django_dbq.exceptions import InvalidWorkspaceError
from django_dbq.executor import Lease, run_step
from django_dbq.models import Job, JobState, StepStart
from django_dbq.periodic.rescue import Rescuer
from django_dbq.rate_log import prune_step_starts
from django_dbq.registry import get_registry
from tests.settings_limits import LIMITED_JOBS

pytestmark = pytest.mark.django_db

JOBS = {
    **LIMITED_JOBS,
    "basic": ["tests.tasks.record"],
    "per_account": {
        "tasks": ["tests.tasks.record"],
        "concurrency": {"key": ["account"], "limit": 2},
    },
    "one_at_a_time": {"tasks": ["tests.tasks.record"], "concurrency": {"limit": 1}},
    "three_per_minute": {"tasks": ["tests.tasks.record"], "rate_limit": "3/m"},
    "rated_per_account": {
        "tasks": ["tests.tasks.record"],
        "rate_limit": {"rate": "1/h", "key": ["account"]},
    },
    "rated_chain": {"tasks": ["tests.tasks.add_one"] * 3, "rate_limit": "100/s"},
    "limited_chain": {"tasks": ["tests.tasks.add_one"] * 3, "concurrency": {"limit": 1}},
}


@pytest.fixture(autouse=True)
def limited_jobs(settings):
    settings.JOBS = JOBS


def claim_keyed(limit=10, owner="w1", now=None):
    now = now or timezone.now()
    return engine_for().claim_keyed(
        "default", owner, limit, now, now + datetime.timedelta(seconds=30), get_registry().limited
    )


def claim_unkeyed(limit=10, owner="w1"):
    now = timezone.now()
    return engine_for().claim(
        "default", owner, limit, now, now + datetime.timedelta(seconds=30), unkeyed=True
    )


def keys_of(jobs):
    return sorted(job.workspace.get("account", "") for job in jobs)


def finish(job):
    Job.objects.filter(pk=job.pk).update(state=JobState.COMPLETED, lease_owner="")


def test_a_limited_job_gets_its_name_and_key_values_as_concurrency_key():
    job = Job.objects.create(name="per_account", workspace={"account": 7})
    plain = Job.objects.create(name="basic")
    assert job.concurrency_key == "per_account\x1f[7]"
    assert plain.concurrency_key is None


def test_a_job_wide_limit_keys_the_job_by_its_name():
    assert Job.objects.create(name="one_at_a_time").concurrency_key == "one_at_a_time"


def test_a_missing_key_field_is_an_error_naming_the_field_and_the_job():
    with pytest.raises(InvalidWorkspaceError, match="'per_account' has no 'account'"):
        Job.objects.create(name="per_account", workspace={"user": 1})
    assert not Job.objects.exists()


def test_a_key_longer_than_the_column_is_stored_as_a_digest():
    job = Job.objects.create(name="per_account", workspace={"account": "x" * 400})
    assert len(job.concurrency_key) <= 255
    assert job.concurrency_key.startswith("per_account\x1f#")


def test_at_most_limit_jobs_of_a_key_are_claimed():
    for account in ["a"] * 5 + ["b"] * 3:
        Job.objects.create(name="per_account", workspace={"account": account})
    assert keys_of(claim_keyed()) == ["a", "a", "b", "b"]
    assert claim_keyed(owner="w2") == []


def test_a_finished_step_frees_its_slot():
    for _ in range(3):
        Job.objects.create(name="per_account", workspace={"account": "a"})
    first, second = claim_keyed()
    finish(first)
    (third,) = claim_keyed(owner="w2")
    assert third.pk not in (first.pk, second.pk)


def test_a_stopping_step_still_holds_its_slot():
    for _ in range(3):
        Job.objects.create(name="per_account", workspace={"account": "a"})
    first, _ = claim_keyed()
    Job.objects.filter(pk=first.pk).update(state=JobState.STOPPING)
    assert claim_keyed(owner="w2") == []


def test_keyed_jobs_are_claimed_in_priority_then_age_order_within_a_key():
    old = Job.objects.create(name="one_at_a_time")
    urgent = Job.objects.create(name="one_at_a_time", priority=5)
    (claimed,) = claim_keyed()
    assert claimed.pk == urgent.pk
    finish(claimed)
    assert [job.pk for job in claim_keyed()] == [old.pk]


def test_the_batch_limit_caps_the_keyed_claim():
    for account in "abcdef":
        Job.objects.create(name="per_account", workspace={"account": account})
    assert len(claim_keyed(limit=4)) == 4


def test_the_unkeyed_claim_leaves_keyed_jobs_alone():
    Job.objects.create(name="per_account", workspace={"account": "a"})
    plain = Job.objects.create(name="basic")
    assert [job.pk for job in claim_unkeyed()] == [plain.pk]


def test_future_jobs_wait_under_a_limit_too():
    later = timezone.now() + datetime.timedelta(minutes=5)
    Job.objects.create(name="one_at_a_time", run_after=later)
    assert claim_keyed() == []


def test_a_rate_limit_admits_at_most_its_count_per_window():
    for _ in range(5):
        Job.objects.create(name="three_per_minute")
    now = timezone.now()
    # One step of a rate-limited key per claim, so that a batch's steps start near their claim.
    claimed = [claim_keyed(now=now + datetime.timedelta(seconds=i)) for i in range(5)]
    assert [len(jobs) for jobs in claimed] == [1, 1, 1, 0, 0]
    assert StepStart.objects.filter(scope="three_per_minute").count() == 3


def test_a_rate_window_slides():
    for _ in range(4):
        Job.objects.create(name="three_per_minute")
    now = timezone.now()
    for i in range(3):
        assert len(claim_keyed(now=now + datetime.timedelta(seconds=i))) == 1
    assert claim_keyed(now=now + datetime.timedelta(seconds=59)) == []
    # The first start (at now) left the window: one more may start.
    assert len(claim_keyed(now=now + datetime.timedelta(seconds=60, milliseconds=1))) == 1


def test_a_keyed_rate_limit_counts_each_key_apart():
    for account in ["a", "a", "b"]:
        Job.objects.create(name="rated_per_account", workspace={"account": account})
    assert keys_of(claim_keyed()) == ["a", "b"]
    assert claim_keyed() == []


def test_waiting_jobs_are_never_failed_nor_counted_as_attempts():
    for _ in range(3):
        Job.objects.create(name="one_at_a_time")
    (running,) = claim_keyed()
    for _ in range(3):
        assert claim_keyed(owner="w2") == []
    waiting = Job.objects.exclude(pk=running.pk)
    assert set(waiting.values_list("state", "attempts")) == {(JobState.NEW, 0)}


def test_chained_steps_of_a_concurrency_limited_job_keep_their_slot():
    Job.objects.create(name="limited_chain", workspace={})
    Job.objects.create(name="limited_chain", workspace={})
    (claimed,) = claim_keyed()
    assert run_step(claimed, Lease("w1", 30), keep=True).kept
    # Between its steps the job stays PROCESSING: its key's one slot is still taken.
    assert claim_keyed(owner="w2") == []


def test_a_chain_of_a_concurrency_limited_job_runs_to_the_end():
    job = Job.objects.create(name="limited_chain", workspace={})
    assert testing.drain() == 3
    job.refresh_from_db()
    assert (job.state, job.workspace["count"]) == (JobState.COMPLETED, 3)


def test_a_rate_limited_job_does_not_chain_its_steps():
    Job.objects.create(name="rated_chain", workspace={})
    (claimed,) = claim_keyed()
    assert not run_step(claimed, Lease("w1", 30), keep=True).kept
    claimed.refresh_from_db()
    assert (claimed.state, claimed.step) == (JobState.READY, 1)


def test_each_step_of_a_rate_limited_job_is_claimed_and_counted():
    job = Job.objects.create(name="rated_chain", workspace={})
    assert testing.drain() == 3
    job.refresh_from_db()
    assert (job.state, job.workspace["count"]) == (JobState.COMPLETED, 3)
    assert StepStart.objects.filter(scope="rated_chain").count() == 3


def test_a_worker_claims_keyed_and_plain_jobs_in_one_round():
    Job.objects.create(name="one_at_a_time")
    Job.objects.create(name="one_at_a_time")
    Job.objects.create(name="basic")
    assert testing.drain() == 3
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED}


def test_a_job_whose_limit_was_removed_from_jobs_is_claimed_freely(settings):
    for _ in range(3):
        Job.objects.create(name="one_at_a_time")
    settings.JOBS = {**JOBS, "one_at_a_time": ["tests.tasks.record"]}
    assert len(claim_keyed()) == 3


def race(claims: int, limit: int) -> list[list]:
    """``claims`` threads, each on its own connection, claim at the same moment."""
    barrier = threading.Barrier(claims)
    results: list = [None] * claims
    errors: list = []

    def run(i):
        try:
            barrier.wait()
            results[i] = claim_keyed(limit=limit, owner=f"w{i}")
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(claims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_racing_claims_never_take_more_than_the_limit_of_a_key():
    for account in ["a"] * 10 + ["b"] * 10:
        Job.objects.create(name="per_account", workspace={"account": account})
    for _ in range(3):  # again, with slots held by earlier rounds
        race(claims=8, limit=3)
        running = Job.objects.filter(state=JobState.PROCESSING)
        assert running.filter(workspace__account="a").count() <= 2
        assert running.filter(workspace__account="b").count() <= 2
    # Nothing was lost: the keys are full, not skipped for good.
    running = Job.objects.filter(state=JobState.PROCESSING)
    assert sorted(running.values_list("workspace__account", flat=True)) == ["a", "a", "b", "b"]


@pytest.mark.django_db(transaction=True)
def test_racing_claims_never_start_more_than_the_rate():
    for _ in range(10):
        Job.objects.create(name="three_per_minute")
    for _ in range(4):
        race(claims=6, limit=5)
    assert Job.objects.filter(state=JobState.PROCESSING).count() == 3
    assert StepStart.objects.count() == 3


def test_pruning_deletes_starts_older_than_the_window_only():
    now = timezone.now()
    StepStart.objects.create(scope="s", at=now - datetime.timedelta(seconds=61))
    kept = StepStart.objects.create(scope="s", at=now - datetime.timedelta(seconds=59))
    assert prune_step_starts(60, now=now) == 1
    assert list(StepStart.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_rescuer_prunes_the_start_log_while_a_rate_limit_is_declared():
    StepStart.objects.create(scope="s", at=timezone.now() - datetime.timedelta(hours=2))
    Rescuer(lease_seconds=30).run_once()
    assert not StepStart.objects.exists()


def test_without_a_limit_in_jobs_a_worker_claims_as_before(settings):
    """Zero cost when unused: the ordinary claim alone, with no condition on the key."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_dbq.worker import Worker
    from tests.db.test_engine_claim import expected_claim_queries

    settings.JOBS = {"basic": ["tests.tasks.record"]}
    for _ in range(3):
        Job.objects.create(name="basic")
    worker = Worker("default", worker_id="w1")
    worker._claim(3)  # on PostgreSQL, prepares the statement
    Job.objects.update(state=JobState.NEW)
    with CaptureQueriesContext(connection) as queries:
        assert len(worker._claim(3)) == 3
    assert len(queries) == expected_claim_queries()
    # The claim returns every column, the key's too, but puts no condition on it.
    assert not any("concurrency_key IS" in query["sql"] for query in queries)


def test_a_paused_queue_gives_no_keyed_job():
    from django_dbq import pauses

    Job.objects.create(name="per_account", workspace={"account": 1})
    Job.objects.create(name="one_at_a_time")
    pauses.pause("default")

    assert claim_keyed() == []

    pauses.resume("default")
    assert len(claim_keyed()) == 2


def test_a_paused_job_name_gives_no_keyed_job_of_that_name():
    from django_dbq import pauses

    Job.objects.create(name="per_account", workspace={"account": 1})
    other = Job.objects.create(name="one_at_a_time")
    pauses.pause("default", "per_account")

    assert [job.pk for job in claim_keyed()] == [other.pk]
