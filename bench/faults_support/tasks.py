"""The three steps of the fault-injection jobs: each records its execution and its letter."""

from __future__ import annotations

import os
import random
import time

from django.conf import settings

from .executions import log_end, log_start
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
    folder = settings.DBQ_FAULTS_EXECUTIONS_DIR
    run = log_start(folder, job.pk, letter, job.spec.atomic) if folder else None
    try:
        if job.spec.atomic and settings.DBQ_FAULTS_SAVE_IN_STEP:
            # As 3.x code may: the guarded save locks the job's row until the step's
            # transaction commits, while the step goes on running.
            job.save()
        # The database effect of the step: autocommitted for plain jobs, part of the step's
        # transaction (committed with the job's advance, or not at all) for atomic ones.
        StepRun.objects.create(job_id=job.pk, step=letter, pid=os.getpid(), started=started)
        # Stay in flight a while, so that kills land inside steps, not only between them.
        time.sleep(random.uniform(0, settings.DBQ_FAULTS_STEP_SECONDS))
        job.workspace.setdefault("steps", []).append(letter)
    finally:
        if run is not None:
            log_end(folder, run)
