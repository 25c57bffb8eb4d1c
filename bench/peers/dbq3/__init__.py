"""django-db-queue 3.3.0 from PyPI: the release this project replaces."""
