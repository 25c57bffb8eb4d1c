"""django-tasks-db (the DEP 14 database backend, with django-tasks on Django 5.2)."""
