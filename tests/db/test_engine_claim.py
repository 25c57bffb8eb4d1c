"""The claim contract, run against the claimer of the current database."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_dbq.engine import engine_for
from django_dbq.executor import Lease, run_step
from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db


def claim(limit=10, queue="default", owner="w1", now=None):
    now = now or timezone.now()
    return engine_for().claim(queue, owner, limit, now, now + datetime.timedelta(seconds=30))


def test_claim_leases_waiting_jobs():
    job = Job.objects.create(name="basic")
    (claimed,) = claim()
    assert claimed.pk == job.pk
    job.refresh_from_db()
    assert (job.state, job.lease_owner, job.attempts) == (JobState.PROCESSING, "w1", 1)
    assert job.lease_expires_at > timezone.now()
    assert (claimed.state, claimed.lease_owner, claimed.attempts) == (job.state, "w1", 1)


def test_claimed_job_is_a_full_model_instance():
    Job.objects.create(name="schema", workspace={"url": "u"}, priority=3)
    (claimed,) = claim()
    assert claimed.workspace == {"url": "u"}
    assert claimed.priority == 3 and claimed.next_task == "tests.tasks.record"
    assert isinstance(claimed.created, datetime.datetime)
    assert not claimed._state.adding


def test_claim_respects_the_limit_and_the_order():
    low = Job.objects.create(name="basic")
    high = Job.objects.create(name="basic", priority=5)
    Job.objects.create(name="basic")
    claimed = claim(limit=2)
    assert [job.pk for job in claimed] == [high.pk, low.pk]


def test_claimed_job_is_not_claimed_again():
    Job.objects.create(name="basic")
    assert len(claim(owner="w1")) == 1
    assert claim(owner="w2") == []


def test_claim_skips_future_jobs_other_queues_and_finished_jobs():
    Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(minutes=1))
    Job.objects.create(name="basic", queue_name="other")
    done = Job.objects.create(name="basic")
    Job.objects.filter(pk=done.pk).update(state=JobState.COMPLETED)
    assert claim() == []


def test_claim_of_an_empty_queue_returns_nothing():
    assert claim() == []


def expected_claim_queries():
    # PostgreSQL and SQLite claim in one UPDATE ... RETURNING; MySQL/MariaDB need a
    # SELECT ... FOR UPDATE SKIP LOCKED per waiting state and an UPDATE inside a transaction
    # (the savepoint statements appear because the test itself runs inside a transaction).
    return {"postgresql": 1, "sqlite": 1, "mysql": 5}[connection.vendor]


def test_claim_costs_a_fixed_number_of_queries():
    for _ in range(5):
        Job.objects.create(name="basic")
    claimer = engine_for()
    now = timezone.now()
    claimer.claim("default", "w1", 5, now, now)  # on PostgreSQL, prepares the statement
    Job.objects.update(state=JobState.NEW)
    with CaptureQueriesContext(connection) as queries:
        assert len(claimer.claim("default", "w1", 5, now, now)) == 5
    assert len(queries) == expected_claim_queries(), [q["sql"] for q in queries]


def test_postgresql_claims_with_a_statement_prepared_once_per_connection():
    if connection.vendor != "postgresql":
        pytest.skip("prepared claims are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # earlier tests prepared it on this connection
    claimer = engine_for()
    now = timezone.now()
    with CaptureQueriesContext(connection) as first:
        claimer.claim("default", "w1", 5, now, now)
    with CaptureQueriesContext(connection) as second:
        claimer.claim("default", "w1", 5, now, now)
    assert [q["sql"].split()[0] for q in first] == ["SELECT", "PREPARE", "EXECUTE"]
    assert [q["sql"].split()[0] for q in second] == ["EXECUTE"]
    # Another claimer on the same connection finds the statement there and reuses it.
    with CaptureQueriesContext(connection) as other:
        engine_for().claim("default", "w1", 5, now, now)
    assert [q["sql"].split()[0] for q in other] == ["SELECT", "EXECUTE"]


@pytest.mark.django_db(transaction=True)
def test_a_lost_prepared_claim_falls_back_to_a_plain_statement(caplog):
    if connection.vendor != "postgresql":
        pytest.skip("prepared claims are PostgreSQL's")
    job = Job.objects.create(name="basic")
    claimer = engine_for()
    now = timezone.now()
    assert claimer.claim("other", "w1", 5, now, now) == []
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL does to the session

    (claimed,) = claimer.claim("default", "w1", 5, now, now + datetime.timedelta(seconds=30))

    assert claimed.pk == job.pk and claimed.state == JobState.PROCESSING
    assert claimer.prepares_claims is False
    assert "event=prepared_claim_lost" in caplog.text


def test_finishing_a_step_costs_one_update():
    Job.objects.create(name="basic")
    (job,) = claim()
    with CaptureQueriesContext(connection) as queries:
        assert run_step(job, Lease("w1", 30)).kind == "completed"
    # Inside this test's transaction the write runs in a savepoint; a worker runs none.
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements


def test_handing_off_to_the_next_step_costs_one_update():
    Job.objects.create(name="three_steps")
    (job,) = claim()
    with CaptureQueriesContext(connection) as queries:
        assert run_step(job, Lease("w1", 30), keep=True).kind == "advanced"
    assert len([q for q in queries if "SAVEPOINT" not in q["sql"]]) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_return_the_same_job():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; concurrency is covered by the process tests")
    Job.objects.enqueue_many([Job(name="basic") for _ in range(200)])
    results: dict[int, list] = {}
    barrier = threading.Barrier(4)

    def claimer(index):
        try:
            barrier.wait(timeout=10)
            taken = []
            while batch := claim(limit=7, owner=f"w{index}"):
                taken.extend(job.pk for job in batch)
            results[index] = taken
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [pk for taken in results.values() for pk in taken]
    assert len(results) == 4
    assert len(everything) == 200 == len(set(everything))


def test_claim_sql_names_the_waiting_states_as_the_partial_index_does():
    from django_dbq.engine.returning import WAITING_SQL
    from django_dbq.models import WAITING_STATES

    (index,) = [i for i in Job._meta.indexes if i.name == "dbq_job_waiting_idx"]
    assert tuple(index.condition.children[0][1]) == tuple(WAITING_STATES)
    assert WAITING_SQL == "state IN ({})".format(", ".join(f"'{s}'" for s in WAITING_STATES))


def test_mariadb_claims_through_the_claim_index_never_an_index_over_the_history():
    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only")
    with connection.cursor() as cursor:
        cursor.execute("SHOW INDEX FROM django_dbq_job")
        indexes = {row[2] for row in cursor.fetchall()}
    assert "dbq_job_claim_idx" in indexes
    assert "dbq_job_waiting_idx" not in indexes  # it would be a full index there
    Job.objects.create(name="basic")
    with CaptureQueriesContext(connection) as queries:
        assert len(claim()) == 1
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 2  # one per waiting state, each an ordered range of the index
    for select in selects:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + select)
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "dbq_job_claim_idx" in plan and "filesort" not in plan, plan


def test_claim_uses_the_waiting_index_with_many_finished_jobs():
    if connection.vendor == "mysql":
        pytest.skip("MariaDB/MySQL have no partial index (see the test above)")
    Job.objects.enqueue_many([Job(name="basic") for _ in range(300)])
    Job.objects.update(state=JobState.COMPLETED)
    Job.objects.create(name="basic")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    claimer = engine_for()
    claimer.prepares_claims = False  # the plain statement: its text shows the inner SELECT
    with CaptureQueriesContext(connection) as queries:
        now = timezone.now()
        assert len(claimer.claim("default", "w1", 10, now, now)) == 1
    sql = queries[0]["sql"].split(" RETURNING ")[0]
    select = sql[sql.index("SELECT id") : -1]
    with connection.cursor() as cursor:
        cursor.execute(
            ("EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ") + select
        )
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "dbq_job_waiting_idx" in plan, plan


def test_the_prepared_claims_generic_plan_uses_the_waiting_index():
    if connection.vendor != "postgresql":
        pytest.skip("prepared claims are PostgreSQL's")
    Job.objects.enqueue_many([Job(name="basic") for _ in range(300)])
    Job.objects.update(state=JobState.COMPLETED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    claimer = engine_for()
    now = timezone.now()
    claimer.claim("default", "w1", 10, now, now)
    with CaptureQueriesContext(connection) as queries:
        claimer.claim("default", "w1", 10, now, now)
    (execute,) = [q["sql"] for q in queries]
    with connection.cursor() as cursor:
        # The plan PostgreSQL caches and reuses once a prepared statement has run a few times.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("EXPLAIN " + execute)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "dbq_job_waiting_idx" in plan, plan


def test_held_names_the_jobs_still_processing_under_their_owner():
    kept, cancelled, taken, deleted = (Job.objects.create(name="basic") for _ in range(4))
    claim(limit=4)
    Job.objects.filter(pk=cancelled.pk).cancel()
    Job.objects.filter(pk=taken.pk).update(lease_owner="w2")
    Job.objects.filter(pk=deleted.pk).delete()

    held = engine_for().held([kept.pk, cancelled.pk, taken.pk, deleted.pk], "w1")

    assert held == {kept.pk}
    assert engine_for().held([kept.pk], "w2") == set()
