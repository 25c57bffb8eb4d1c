"""Worker rows: one row per running worker process (queue, host, pid, loops, current jobs, last
seen), written by the process itself; read by queue_status and its --check."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_dbq', '0014_dashboard_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='WorkerProcess',
            fields=[
                ('id', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('queue_name', models.CharField(max_length=100)),
                ('host', models.CharField(max_length=255)),
                ('pid', models.PositiveIntegerField()),
                ('concurrency', models.PositiveIntegerField(default=1)),
                ('worker_ids', models.JSONField(default=list)),
                ('current_jobs', models.JSONField(default=list)),
                ('steps_run', models.PositiveBigIntegerField(default=0)),
                ('started_at', models.DateTimeField()),
                ('last_seen', models.DateTimeField()),
            ],
            options={
                'ordering': ['queue_name', 'started_at'],
                'indexes': [models.Index(fields=['last_seen'], name='dbq_worker_last_seen_idx')],
            },
        ),
    ]
