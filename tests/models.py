"""Models the tests' tasks write to, to observe what ran."""

from django.db import models


class StepRun(models.Model):
    """One execution of one step, written by the process tests' tasks."""

    job_id = models.UUIDField()
    step = models.CharField(max_length=10)

    class Meta:
        indexes = [models.Index(fields=["job_id", "step"])]


class Marker(models.Model):
    """A row an atomic step writes."""

    job_id = models.UUIDField()
