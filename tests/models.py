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


class StepSpan(models.Model):
    """When one step of a flow-controlled job ran, and under which key (process tests)."""

    job_id = models.UUIDField()
    key = models.CharField(max_length=50)
    started = models.DateTimeField()
    ended = models.DateTimeField(null=True)
