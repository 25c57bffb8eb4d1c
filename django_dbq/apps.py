"""The django_dbq application."""

from django.apps import AppConfig


class DjangoDbqConfig(AppConfig):
    """Registers the system checks and reads JOBS once the app registry is ready."""

    name = "django_dbq"
    verbose_name = "Database job queue"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
