"""Names, queue names and uniqueness keys match byte for byte on MariaDB/MySQL too.

MariaDB/MySQL compare text by the column's collation, usually a case-insensitive one
(utf8mb4_general_ci) that also ignores trailing spaces (PAD SPACE). Two unique jobs whose names
or keys differ only in case blocked each other there (the dbq_job_unique_active key matched
them), a worker of queue "Emails" claimed the jobs of queue "emails", and schedules "Nightly" and
"nightly" could not both exist; PostgreSQL and SQLite compare exactly. This migration gives the
columns that rows are matched by a binary NO PAD collation on MariaDB/MySQL only: MariaDB's
utf8mb4_nopad_bin (its utf8mb4_bin still ignores trailing spaces) and MySQL's utf8mb4_0900_bin
(MySQL 8.0.17+; older MySQL 8 gets utf8mb4_bin, exact but for trailing spaces). Their indexes
are rebuilt with them. The character set becomes utf8mb4 if it was another one.

The columns: Job.name and Job.unique_key (the unique key), Job.queue_name (the claim) and
Schedule.name (unique, and matched by the sync of JOBS). Not changed: Job.lease_owner and
Job.next_task, whose values django_dbq generates or reads itself (a worker id is
host:pid:random, unique by its lowercase random part; next_task is compared in Python), and
state, which holds fixed upper-case values.

The model state is unchanged (collation names are the database's own), so a later migration
that alters one of these fields on MariaDB/MySQL must give it its collation again. Reversing
returns the columns to the table's default character set and collation, which is what Django
and django-db-queue 3.x created them with; it fails if two rows then collide in a unique key
(names or keys that differ only in case, of active unique jobs or of schedules).
"""

import copy

from django.db import migrations

BYTE_EXACT_COLUMNS = {
    "job": ("name", "unique_key", "queue_name"),
    "schedule": ("name",),
}


def byte_exact_collation(connection):
    """The binary NO PAD collation of utf8mb4 on this server (MySQL's needs 8.0.17+)."""
    with connection.cursor() as cursor:
        for collation in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin"):
            cursor.execute("SHOW COLLATION LIKE %s", [collation])
            if cursor.fetchall():
                return collation
    # MySQL 8.0.1 to 8.0.16: binary, so case-exact, though still blind to trailing spaces.
    return "utf8mb4_bin"


def _alter(apps, schema_editor, to_exact):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    collation = byte_exact_collation(connection)
    for model_name, field_names in BYTE_EXACT_COLUMNS.items():
        model = apps.get_model("django_dbq", model_name)
        for field_name in field_names:
            table_default = model._meta.get_field(field_name)
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
        ("django_dbq", "0012_time_ordered_ids"),
    ]

    operations = [
        # No transaction: MariaDB/MySQL cannot roll DDL back, and Django refuses DDL inside one.
        migrations.RunPython(use_byte_exact_collation, use_table_collation, atomic=False),
    ]
