"""What the fault-injection tasks write: one row per execution of a step."""

from django.db import models


class StepRun(models.Model):
    """One execution of one step of one job.

    Plain jobs write it in autocommit, so the execution of a worker killed right after counts;
    atomic jobs write it inside the step's transaction, so only committed executions count.
    """

    job_id = models.UUIDField()
    step = models.CharField(max_length=1)
    # The worker process that ran it, and when (time.time() in that process) it started.
    pid = models.IntegerField()
    started = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["job_id", "step"], name="faults_steprun_job_idx")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.step} pid={self.pid}"
