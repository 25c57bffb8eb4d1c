"""New jobs get time-ordered ids (UUID version 7, see django_dbq/ids.py).

Only the model's Python-side default changes: the column, its type and the existing ids stay
as they are, so no database is touched (SQLite would otherwise copy the whole table).
"""

from django.db import migrations, models

import django_dbq.ids


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0011_partial_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="job",
                    name="id",
                    field=models.UUIDField(
                        default=django_dbq.ids.new_job_id,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
    ]
