"""Settings of the benchmark driver for pgqueuer (its own venv).

pgqueuer does not use Django: only the driver does, to empty and count the tables with the same
connection settings as every contender. Its workers are ``pgq run`` processes (worker.py).
"""

from benchlib.dbsettings import base_settings

globals().update(base_settings())

INSTALLED_APPS: list[str] = []
