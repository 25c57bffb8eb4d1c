"""Flow control: Job.concurrency_key, its two indexes, and the StepStart log of rate limits.

PostgreSQL and SQLite get partial indexes (only rows with a key; the waiting one only waiting
rows), so jobs without limits cost them nothing. MariaDB/MySQL have no partial indexes: they get
full ones, with the state before the key in the waiting one so that the keyed claim reads only
waiting rows (as migration 0009 does for the claim index); the model state is the same on every
database.
"""

from django.db import migrations, models

KEY_STATE_INDEX = models.Index(
    condition=models.Q(("concurrency_key__isnull", False)),
    fields=["concurrency_key", "state"],
    name="dbq_job_key_state_idx",
)
KEY_WAITING_INDEX = models.Index(
    condition=models.Q(("concurrency_key__isnull", False), ("state__in", ("NEW", "READY"))),
    fields=["queue_name", "concurrency_key", "-priority", "created"],
    name="dbq_job_key_waiting_idx",
)
# MariaDB/MySQL only.
FULL_INDEXES = [
    models.Index(fields=["concurrency_key", "state"], name="dbq_job_key_state_idx"),
    models.Index(
        fields=["queue_name", "state", "concurrency_key", "-priority", "created"],
        name="dbq_job_key_waiting_idx",
    ),
]


def add_indexes(apps, schema_editor):
    Job = apps.get_model("django_dbq", "Job")
    if schema_editor.connection.features.supports_partial_indexes:
        indexes = [KEY_STATE_INDEX, KEY_WAITING_INDEX]
    else:
        indexes = FULL_INDEXES
    for index in indexes:
        schema_editor.add_index(Job, index)


def remove_indexes(apps, schema_editor):
    Job = apps.get_model("django_dbq", "Job")
    for index in FULL_INDEXES:  # removing goes by name
        schema_editor.remove_index(Job, index)


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0017_pause_and_progress"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="concurrency_key",
            field=models.CharField(blank=True, editable=False, max_length=255, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="job", index=KEY_STATE_INDEX),
                migrations.AddIndex(model_name="job", index=KEY_WAITING_INDEX),
            ],
            database_operations=[migrations.RunPython(add_indexes, remove_indexes)],
        ),
        migrations.CreateModel(
            name="StepStart",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("scope", models.CharField(max_length=255)),
                ("at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["scope", "at"], name="dbq_step_start_scope_idx"),
                    models.Index(fields=["at"], name="dbq_step_start_at_idx"),
                ],
            },
        ),
    ]
