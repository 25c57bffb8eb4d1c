"""Task functions the tests declare in JOBS."""

import time

CALLS: list = []


def record(job):
    CALLS.append(("task", job.name, job.next_task))
    job.workspace.setdefault("ran", []).append(job.next_task)


def add_one(job):
    job.workspace["count"] = job.workspace.get("count", 0) + 1


def fail(job):
    raise ValueError("boom")


def fail_until(job):
    """Fails until the attempt named by workspace['succeed_on'] (never, by default)."""
    if job.attempts < job.workspace.get("succeed_on", 10**6):
        raise RuntimeError(f"attempt {job.attempts} failed")
    job.workspace["succeeded_on"] = job.attempts


def sleep(job):
    time.sleep(job.workspace.get("seconds", 5))


def write_marker(job):
    from tests.models import Marker

    Marker.objects.create(job_id=job.pk)
    job.workspace["marked"] = True


def on_create(job):
    CALLS.append(("creation_hook", job.name))
    job.workspace["created_by_hook"] = True


def pre_hook(job):
    CALLS.append(("pre_task_hook", job.name))
    if job.workspace.get("fail_pre"):
        raise RuntimeError("pre hook refused")


def post_hook(job):
    CALLS.append(("post_task_hook", job.name))
    if job.workspace.get("fail_post"):
        raise RuntimeError("post hook broke")


def on_failure(job, exception):
    CALLS.append(("failure_hook", job.name, repr(exception)))
    job.workspace["failure"] = str(exception)


def _mark(job, step):
    from tests.models import StepRun

    StepRun.objects.create(job_id=job.pk, step=step)
    job.workspace.setdefault("steps", []).append(step)


def mark_step_a(job):
    _mark(job, "a")


def mark_step_b(job):
    _mark(job, "b")


def mark_step_c(job):
    _mark(job, "c")


def slow_mark_step_a(job):
    """Records that it started, sleeps workspace['seconds'] unless rescued, then marks "a"."""
    from tests.models import StepRun

    StepRun.objects.create(job_id=job.pk, step="started")
    if not job.rescues:
        time.sleep(job.workspace.get("seconds", 5))
    _mark(job, "a")


def cancel_own_job(job):
    """Cancels the job it belongs to, as an operator would while this step runs."""
    from django_dbq.models import Job

    Job.objects.filter(pk=job.pk).cancel()
    job.workspace.setdefault("ran", []).append(job.step)


def record_step(job):
    job.workspace.setdefault("ran", []).append(job.step)


def leave_a_set(job):
    job.workspace["tags"] = {"not", "json"}


def call_sys_exit(job):
    import sys

    sys.exit(3)


def slow_query(job):
    """Runs a query longer than the job's timeout (the alarm fires inside the driver)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_sleep(3)")
        else:
            cursor.execute("SELECT SLEEP(3)")


def note_thread_and_wait(job):
    """Waits on "I/O" for workspace['seconds'], noting its thread and when it ran."""
    import threading

    started = time.monotonic()
    time.sleep(job.workspace.get("seconds", 0.3))
    job.workspace["run"] = [threading.current_thread().name, started, time.monotonic()]


def busy_until_stopped(job):
    """Runs Python code for up to workspace['seconds'] (a timeout must interrupt it)."""
    deadline = time.monotonic() + job.workspace.get("seconds", 30)
    while time.monotonic() < deadline:
        time.sleep(0.01)
    job.workspace["finished"] = True


def save_mid_step(job):
    """Saves the job from inside its task (as 3.x code sometimes did)."""
    job.workspace["saved_mid_step"] = True
    job.save()
    job.workspace["after_save"] = True


def cancel_then_save(job):
    """An operator cancels the job while its task runs; the task then saves it."""
    from django_dbq.models import Job

    Job.objects.filter(pk=job.pk).cancel()
    job.workspace["after_cancel"] = True
    job.save()


def save_and_hold(job):
    """Saves its job (an atomic step then holds the row locked), then works for a while."""
    job.workspace["saved"] = True
    job.save()
    time.sleep(job.workspace.get("seconds", 3))


def record_start_and_end(job):
    """Records when it starts and when it ends, so that overlapping runs show."""
    from tests.models import StepRun

    StepRun.objects.create(job_id=job.pk, step="start")
    time.sleep(job.workspace.get("seconds", 3))
    StepRun.objects.create(job_id=job.pk, step="end")


def leave_nan(job):
    job.workspace["ratio"] = float("nan")


def leave_int_key(job):
    job.workspace["by_id"] = {1: "x"}


def leave_nul(job):
    job.result = {"text": "a\x00b"}


def save_then_fail(job):
    """Checkpoints the workspace with job.save(), then fails."""
    job.workspace["checkpoint"] = job.workspace.get("checkpoint", 0) + 1
    job.save()
    job.workspace["unsaved"] = True
    if job.attempts < 2:
        raise RuntimeError("fails after its checkpoint")


def delete_own_job(job):
    """The job's row is deleted (by an operator, say) while its step runs."""
    from django_dbq.models import Job

    Job.objects.filter(pk=job.pk).delete()


def write_marker_then_cancel(job):
    """An atomic step writes a row; an operator (another connection) cancels the job meanwhile."""
    import threading

    from django.db import connections

    from django_dbq.models import Job
    from tests.models import Marker

    Marker.objects.create(job_id=job.pk)

    def cancel():
        Job.objects.filter(pk=job.pk).cancel()
        connections.close_all()

    operator = threading.Thread(target=cancel)
    operator.start()
    operator.join()


def cancel_the_others(job):
    """Works a little while an operator cancels the other 'basic' jobs of the batch."""
    from django_dbq.models import Job

    time.sleep(0.05)
    Job.objects.filter(name="basic").exclude(pk=job.pk).cancel()


def cancel_the_others_elsewhere(job):
    """An operator on another connection cancels the other 'basic' jobs of the batch; the
    step ends as soon as that cancel committed."""
    import threading

    from django.db import connection

    from django_dbq.models import Job

    def cancel():
        try:
            Job.objects.filter(name="basic").exclude(pk=job.pk).cancel()
        finally:
            connection.close()

    operator = threading.Thread(target=cancel)
    operator.start()
    operator.join()


def sleep_then_cancel_self(job):
    """A long step during which an operator cancels the job."""
    from django_dbq.models import Job

    time.sleep(job.workspace.get("seconds", 0.05))
    Job.objects.filter(pk=job.pk).cancel()


def taken_over_then_fail(job):
    """The job's lease is taken over while its step runs; the task reloads it, then fails."""
    from django_dbq.models import Job

    Job.objects.filter(pk=job.pk).update(lease_owner="worker-B")
    job.refresh_from_db()
    raise ValueError("fails after its lease was taken over")


def short_step_cancelled_at_step_2(job):
    """A 6 ms step; at step 2 an operator cancels the job."""
    from django_dbq.models import Job

    CALLS.append(("short_step", job.step))
    time.sleep(0.006)
    if job.step == 1:
        Job.objects.filter(pk=job.pk).cancel()


def exit_in_hook(job):
    import sys

    sys.exit(4)


def count_with_progress(job):
    """Reports progress for workspace['n'] items, sleeping workspace['pause'] s between them."""
    n = job.workspace.get("n", 3)
    for done in range(n + 1):
        job.report_progress(done, n, message=f"item {done}")
        time.sleep(job.workspace.get("pause", 0))


def report_too_fast(job):
    """Reports many times in a row, without waiting (the rate limit holds most back)."""
    for done in range(1, 101):
        job.report_progress(done, message="fast")
    job.workspace["reported"] = True


def wait_for_cancel(job):
    """Polls cancel_requested() until it is True (or workspace['seconds'] pass)."""
    deadline = time.monotonic() + job.workspace.get("seconds", 20)
    while time.monotonic() < deadline:
        if job.cancel_requested():
            job.workspace["noticed_cancel"] = True
            return
        time.sleep(0.01)
    job.workspace["gave_up"] = True


def record_span(job):
    """Records when it starts and ends under the job's account (seconds: how long it works)."""
    from django.utils import timezone

    from tests.models import StepSpan

    span = StepSpan.objects.create(
        job_id=job.pk, key=str(job.workspace.get("account", "")), started=timezone.now()
    )
    time.sleep(job.workspace.get("seconds", 0))
    StepSpan.objects.filter(pk=span.pk).update(ended=timezone.now())
