"""Paused queues (QueuePause rows, obeyed by every vendor's claim) and a running step's progress
(four nullable Job columns written by job.report_progress()).

On MariaDB/MySQL the pause's queue_name and job_name get the binary NO PAD collation that
migration 0013 gave Job.queue_name and Job.name: the claim compares them with each other, which
MariaDB/MySQL refuse between columns of different collations ("Illegal mix of collations"),
and a pause must match names byte for byte as the claim does.
"""

import copy
import importlib

from django.db import migrations, models
import django.utils.timezone

BYTE_EXACT_COLUMNS = ("queue_name", "job_name")


def _alter(apps, schema_editor, to_exact):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    exact_identifiers = importlib.import_module("django_dbq.migrations.0013_byte_exact_identifiers")
    collation = exact_identifiers.byte_exact_collation(connection)
    model = apps.get_model("django_dbq", "QueuePause")
    for name in BYTE_EXACT_COLUMNS:
        table_default = model._meta.get_field(name)
        exact = copy.copy(table_default)
        exact.db_collation = collation
        old, new = (table_default, exact) if to_exact else (exact, table_default)
        schema_editor.alter_field(model, old, new)


def use_byte_exact_collation(apps, schema_editor):
    _alter(apps, schema_editor, to_exact=True)


def use_table_collation(apps, schema_editor):
    _alter(apps, schema_editor, to_exact=False)


class Migration(migrations.Migration):

    dependencies = [
        ("django_dbq", "0016_cancel_notifications"),
    ]

    operations = [
        migrations.CreateModel(
            name="QueuePause",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("queue_name", models.CharField(max_length=100)),
                ("job_name", models.CharField(blank=True, default="", max_length=100)),
                ("paused_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("paused_by", models.CharField(blank=True, default="", max_length=150)),
                ("reason", models.CharField(blank=True, default="", max_length=255)),
            ],
            options={
                "verbose_name": "paused queue",
                "verbose_name_plural": "paused queues",
                "ordering": ["queue_name", "job_name"],
                "constraints": [
                    models.UniqueConstraint(fields=("queue_name", "job_name"), name="dbq_pause_unique")
                ],
            },
        ),
        migrations.AddField(
            model_name="job",
            name="progress_done",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="progress_total",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="progress_message",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="job",
            name="progress_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # No transaction: MariaDB/MySQL cannot roll DDL back, and Django refuses DDL inside one.
        migrations.RunPython(use_byte_exact_collation, use_table_collation, atomic=False),
    ]
