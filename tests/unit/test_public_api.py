"""The package root's public names are pinned, so removing one is a deliberate decision."""

import django_dbq


def test_public_names_are_pinned():
    assert sorted(django_dbq.__all__) == [
        "ConfigurationError",
        "DbqError",
        "DuplicateJobError",
        "EnqueueError",
        "InvalidScheduleError",
        "InvalidWorkspaceError",
        "Job",
        "JobState",
        "Schedule",
        "StepTimeout",
        "UndeclaredTaskError",
        "UnknownJobError",
        "Worker",
        "__version__",
    ]


def test_every_public_name_resolves():
    for name in django_dbq.__all__:
        assert getattr(django_dbq, name) is not None


def test_configuration_errors_are_improperly_configured():
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(django_dbq.ConfigurationError, ImproperlyConfigured)
    assert issubclass(django_dbq.UnknownJobError, ValueError)
