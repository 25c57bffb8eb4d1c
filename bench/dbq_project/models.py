"""PlainJob: the same columns, keys and indexes as django_dbq's Job, saved by plain Django.

The enqueue benchmark compares ``Job.objects.create`` with ``PlainJob.objects.create`` to show
what the queue adds (validation, hooks, the wake-up trigger) over writing the same row.
The fields are cloned from Job at import, so the baseline follows any change to the model.
"""

from django.db import connection, models

from django_dbq.models import Job


def _plain_job_model() -> type[models.Model]:
    attrs: dict = {"__module__": __name__}
    for field in Job._meta.concrete_fields:
        if field.is_relation:
            # The same foreign key (to django_dbq's Schedule), database constraint included,
            # minus the reverse accessor, which would clash with Job's.
            attrs[field.name] = models.ForeignKey(
                field.remote_field.model,
                null=field.null,
                blank=True,
                on_delete=field.remote_field.on_delete,
                db_index=field.db_index,
                related_name="+",
            )
        else:
            attrs[field.name] = field.clone()
    indexes = [
        models.Index(fields=index.fields, condition=index.condition, name=f"bench_plain_{position}")
        for position, index in enumerate(Job._meta.indexes)
    ]
    # Where partial indexes do not exist (MariaDB/MySQL), Django would skip a conditional
    # unique constraint, while django_dbq's migrations keep full ones there: so does this.
    partial = connection.features.supports_partial_indexes
    constraints = [
        models.UniqueConstraint(
            fields=constraint.fields,
            condition=constraint.condition if partial else None,
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
