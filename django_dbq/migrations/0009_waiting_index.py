"""The claim index becomes partial (waiting jobs only) on PostgreSQL and SQLite.

A partial index holds only NEW/READY rows, so it stays tiny with millions of finished jobs and
the query planner keeps choosing it after ANALYZE (SQLite's statistics made it prefer a full
scan of the old index). MariaDB/MySQL have no partial indexes: Django creates the index there
without its condition, and this migration adds the (queue_name, state, priority, created)
index their claim needs.
"""

from django.db import migrations, models

MYSQL_CLAIM_INDEX = (
    "CREATE INDEX dbq_job_claim_idx ON django_dbq_job (queue_name, state, priority DESC, created)"
)


def add_mysql_claim_index(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute(MYSQL_CLAIM_INDEX)


def remove_mysql_claim_index(apps, schema_editor):
    if schema_editor.connection.vendor == "mysql":
        schema_editor.execute("DROP INDEX dbq_job_claim_idx ON django_dbq_job")


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0008_schedules"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="job",
            name="dbq_job_claim_idx",
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("state__in", ("NEW", "READY"))),
                fields=["queue_name", "-priority", "created"],
                name="dbq_job_waiting_idx",
            ),
        ),
        migrations.RunPython(add_mysql_claim_index, remove_mysql_claim_index, atomic=False),
    ]
