"""Job ids are version 7 UUIDs: unique, unguessable, in creation order."""

import time
import uuid

from django_dbq.ids import new_job_id
from django_dbq.models import Job


def test_a_job_id_is_a_plain_version_7_uuid():
    job_id = new_job_id()
    assert type(job_id) is uuid.UUID
    assert (job_id.version, job_id.variant) == (7, uuid.RFC_4122)


def test_ids_begin_with_their_creation_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    job_id = new_job_id()
    assert before <= job_id.int >> 80 <= before + 5_000


def test_ids_made_one_after_another_sort_in_that_order_and_never_repeat():
    ids = [new_job_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert sorted(i.hex for i in ids) == [i.hex for i in ids]  # as SQLite stores them


def test_a_burst_of_ids_keeps_their_time_at_the_clock():
    # A bulk enqueue makes many ids per millisecond: a counter orders them; their time must not
    # be pushed ahead of the clock (one millisecond per id would put these ~100 s ahead).
    ids = [new_job_id() for _ in range(100_000)]
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[-1].int >> 80 <= after + 1


def test_a_new_job_gets_one():
    assert Job(name="basic").pk.version == 7
