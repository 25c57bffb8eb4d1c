"""Settings for benchmarking django-db-queue 3.3.0 (installed from PyPI in its own venv)."""

from benchlib.dbsettings import base_settings

globals().update(base_settings())

INSTALLED_APPS = ["django_dbq"]

JOBS = {
    "noop": {"tasks": ["peers.dbq3.tasks.noop"]},
    "pipeline": {
        "tasks": [
            "peers.dbq3.tasks.step_one",
            "peers.dbq3.tasks.step_two",
            "peers.dbq3.tasks.step_three",
        ]
    },
    "probe": {"tasks": ["peers.dbq3.tasks.probe"]},
}
