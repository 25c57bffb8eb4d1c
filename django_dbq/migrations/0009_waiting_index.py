"""The claim index becomes partial (waiting jobs only) on PostgreSQL and SQLite.

A partial index holds only NEW/READY rows, so it stays tiny with millions of finished jobs and
the query planner keeps choosing it after ANALYZE (SQLite's statistics made it prefer a full
scan of the old index). MariaDB/MySQL have no partial indexes, and Django would create this one
there without its condition: an index in claim order over the whole history, which the optimizer
may pick for SELECT ... FOR UPDATE and so lock every finished row it walks past. So MariaDB/MySQL
keep migration 0007's (queue_name, state, priority, created) index and never get this one; the
model state is the same on every database.
"""

from django.db import migrations, models

WAITING_INDEX = models.Index(
    condition=models.Q(("state__in", ("NEW", "READY"))),
    fields=["queue_name", "-priority", "created"],
    name="dbq_job_waiting_idx",
)
CLAIM_INDEX = models.Index(
    fields=["queue_name", "state", "-priority", "created"], name="dbq_job_claim_idx"
)


def use_waiting_index(apps, schema_editor):
    if schema_editor.connection.features.supports_partial_indexes:
        Job = apps.get_model("django_dbq", "Job")
        schema_editor.remove_index(Job, CLAIM_INDEX)
        schema_editor.add_index(Job, WAITING_INDEX)


def use_claim_index(apps, schema_editor):
    if schema_editor.connection.features.supports_partial_indexes:
        Job = apps.get_model("django_dbq", "Job")
        schema_editor.remove_index(Job, WAITING_INDEX)
        schema_editor.add_index(Job, CLAIM_INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0008_schedules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="job", name="dbq_job_claim_idx"),
                migrations.AddIndex(model_name="job", index=WAITING_INDEX),
            ],
            database_operations=[migrations.RunPython(use_waiting_index, use_claim_index)],
        ),
    ]
