"""The admin dashboard: an index on (state, finished_at), and the Dashboard proxy model.

The dashboard counts jobs finished in the last hour (per queue, state and minute) and lists the
latest failures. No index served either: on PostgreSQL 15 with 1,000,000 finished jobs, EXPLAIN
ANALYZE showed a parallel sequential scan of the whole table (118 ms) for the hour's counts and
a sort of every FAILED row (52 ms, 20,000 rows) for the latest ten failures. With this index:
an index range scan of the hour's rows (0.8 ms) and a backward index scan that stops after ten
(0.02 ms). Its size at 1,000,000 rows is 39 MB (the (state, created) index: 69 MB).

Building it locks writes to the table while it is built; on a large PostgreSQL table, create it
first by hand with CREATE INDEX CONCURRENTLY under the same name, then run this migration
with --fake (the proxy model needs nothing from the database).

The proxy model has no table: it puts the dashboard on the admin index.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0013_byte_exact_identifiers"),
    ]

    operations = [
        migrations.CreateModel(
            name="Dashboard",
            fields=[],
            options={
                "verbose_name": "dashboard",
                "verbose_name_plural": "dashboard",
                "proxy": True,
                "default_permissions": (),
                "indexes": [],
                "constraints": [],
            },
            bases=("django_dbq.job",),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["state", "finished_at"], name="dbq_job_state_finished_idx"),
        ),
    ]
