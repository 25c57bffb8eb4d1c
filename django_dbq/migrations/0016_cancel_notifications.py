"""PostgreSQL: a cancel of a running job also notifies the channel django_dbq_cancel.

The job table's wake-up trigger (0007, function of 0010) already sees every updated row. It now
also sends one ``pg_notify('django_dbq_cancel', '')`` per transaction that makes a row STOPPING
(the cancel of a claimed job, from ``cancel()``, the admin or any other UPDATE), so a worker that
claimed the job in a batch and has not started its step yet hears of it and never starts it.
Same scan of the same rows: the runnable rows' condition gains one OR. Nothing changes on other
databases.
"""

from django.db import migrations


WITH_CANCELS = """
CREATE OR REPLACE FUNCTION django_dbq_notify() RETURNS trigger AS $$
BEGIN
    -- PostgreSQL folds identical notifications of a transaction into one.
    PERFORM CASE WHEN state = 'STOPPING' THEN pg_notify('django_dbq_cancel', '')
                 ELSE pg_notify('django_dbq', queue_name) END
    FROM dbq_changed_rows
    WHERE state = 'STOPPING'
       OR (state IN ('NEW', 'READY') AND (run_after IS NULL OR run_after <= now()));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""
# Migration 0010's function, restored when this migration is unapplied.
WAKE_UPS_ONLY = """
CREATE OR REPLACE FUNCTION django_dbq_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('django_dbq', queue_name) FROM dbq_changed_rows
    WHERE state IN ('NEW', 'READY') AND (run_after IS NULL OR run_after <= now());
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def notify_cancels(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WITH_CANCELS)


def notify_wake_ups_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(WAKE_UPS_ONLY)


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0015_worker_rows"),
    ]

    operations = [
        migrations.RunPython(notify_cancels, notify_wake_ups_only),
    ]
