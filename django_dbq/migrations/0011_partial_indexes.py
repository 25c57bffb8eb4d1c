"""Uniqueness and lease indexes hold only the rows they serve, on PostgreSQL and SQLite.

Most jobs have no uniqueness key and no schedule, and only running jobs hold a lease, yet the
full indexes took an entry for every job and a new one at every state change (PostgreSQL
writes every index again when an indexed column changes). As partial indexes they take none
for a waiting or finished plain job (an enqueue writes three indexes instead of six) and stay
as small as the set of running or keyed jobs however much history the table keeps.
The rules are unchanged: NULL keys never collided.

MariaDB/MySQL have no partial indexes; Django would drop the conditional unique constraints
there (the database would then no longer back them up), so those databases keep migration
0007's full constraints and index. The model state is the same on every database.
"""

from django.db import migrations, models

LEASED = ("PROCESSING", "STOPPING")


class OnPartialIndexDatabases(migrations.operations.base.Operation):
    """Runs an operation's schema change only where partial indexes exist; state everywhere."""

    reduces_to_sql = False

    def __init__(self, operation):
        self.operation = operation

    @property
    def reversible(self):
        return self.operation.reversible

    def state_forwards(self, app_label, state):
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.features.supports_partial_indexes:
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.features.supports_partial_indexes:
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"{self.operation.describe()} (databases with partial indexes only)"


class Migration(migrations.Migration):
    dependencies = [
        ("django_dbq", "0010_cheaper_notify"),
    ]

    operations = [
        OnPartialIndexDatabases(operation)
        for operation in (
            migrations.RemoveConstraint(model_name="job", name="dbq_job_unique_active"),
            migrations.RemoveConstraint(model_name="job", name="dbq_job_schedule_occurrence"),
            migrations.RemoveIndex(model_name="job", name="dbq_job_lease_idx"),
            migrations.AddConstraint(
                model_name="job",
                constraint=models.UniqueConstraint(
                    condition=models.Q(("unique_key__isnull", False)),
                    fields=("name", "unique_key"),
                    name="dbq_job_unique_active",
                ),
            ),
            migrations.AddConstraint(
                model_name="job",
                constraint=models.UniqueConstraint(
                    condition=models.Q(("schedule__isnull", False)),
                    fields=("schedule", "scheduled_for"),
                    name="dbq_job_schedule_occurrence",
                ),
            ),
            migrations.AddIndex(
                model_name="job",
                index=models.Index(
                    condition=models.Q(("state__in", LEASED)),
                    fields=["state", "lease_expires_at"],
                    name="dbq_job_lease_idx",
                ),
            ),
        )
    ]
