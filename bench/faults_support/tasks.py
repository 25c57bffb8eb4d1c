"""The three steps of the fault-injection jobs: each records its execution and its letter."""

from __future__ import annotations

import os
import random
import time

from django.conf import settings

from .models import StepRun


def step_a(job) -> None:
    """First step."""
    _run(job, "a")


def step_b(job) -> None:
    """Second step."""
    _run(job, "b")


def step_c(job) -> None:
    """Third step."""
    _run(job, "c")


def _run(job, letter: str) -> None:
    started = time.time()
    if job.spec.atomic:
        _log_attempt(job, letter, started)
    # The database effect of the step: autocommitted for plain jobs, part of the step's
    # transaction (committed with the job's advance, or not at all) for atomic ones.
    StepRun.objects.create(job_id=job.pk, step=letter, pid=os.getpid(), started=started)
    # Stay in flight a little, so that kills land inside steps, not only between them.
    time.sleep(random.uniform(0, settings.DBQ_FAULTS_STEP_SECONDS))
    job.workspace.setdefault("steps", []).append(letter)


def _log_attempt(job, letter: str, started: float) -> None:
    """Count an atomic step's attempt outside the database (a rolled back row leaves no trace)."""
    folder = settings.DBQ_FAULTS_ATTEMPTS_DIR
    if not folder:
        return
    path = os.path.join(folder, f"attempts-{os.getpid()}.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # One write(2) per line: it reaches the kernel at once, so a SIGKILL cannot lose it.
        os.write(fd, f"{job.pk} {letter} {started:.6f}\n".encode())
    finally:
        os.close(fd)
