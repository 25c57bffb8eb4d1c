"""PlainJob: the same columns and indexes as django_dbq's Job, saved by plain Django.

The enqueue benchmark compares ``Job.objects.create`` with ``PlainJob.objects.create`` to show
what the queue adds (validation, hooks, the wake-up trigger) over writing the same row.
The fields are cloned from Job at import, so the baseline follows any change to the model.
"""

from django.db import models

from django_dbq.models import Job


def _plain_job_model() -> type[models.Model]:
    attrs: dict = {"__module__": __name__}
    for field in Job._meta.concrete_fields:
        if field.is_relation:
            # A plain column in place of the foreign key: the baseline has no related models.
            attrs[field.name] = models.BigIntegerField(
                null=field.null, blank=True, db_column=field.column
            )
        else:
            attrs[field.name] = field.clone()
    indexes = [
        models.Index(fields=index.fields, condition=index.condition, name=f"bench_plain_{position}")
        for position, index in enumerate(Job._meta.indexes)
    ]
    constraints = [
        models.UniqueConstraint(
            fields=constraint.fields,
            condition=constraint.condition,
            name=f"bench_plain_unique_{position}",
        )
        for position, constraint in enumerate(Job._meta.constraints)
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields
    ]
    attrs["Meta"] = type(
        "Meta",
        (),
        {"indexes": indexes, "constraints": constraints, "app_label": "dbq_project"},
    )
    return type("PlainJob", (models.Model,), attrs)


PlainJob = _plain_job_model()
