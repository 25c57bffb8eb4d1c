"""Settings for benchmarking procrastinate's Django integration (its own venv)."""

from benchlib.dbsettings import base_settings

globals().update(base_settings())

INSTALLED_APPS = ["procrastinate.contrib.django"]

PROCRASTINATE_IMPORT_PATHS = ["peers.procrastinate_peer.tasks"]
