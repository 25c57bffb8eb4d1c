from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="StepRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("job_id", models.UUIDField()),
                ("step", models.CharField(max_length=1)),
                ("pid", models.IntegerField()),
                ("started", models.FloatField()),
            ],
            options={
                "indexes": [models.Index(fields=["job_id", "step"], name="faults_steprun_job_idx")],
            },
        ),
    ]
