"""A backend for Django's tasks framework (django.tasks, or the django-tasks backport).

``django_dbq.backends.DatabaseBackend`` is the public import path. The parts:

compat.py    the framework's names, from django.tasks (Django >= 6.0) or django_tasks
backend.py   DatabaseBackend (enqueue, get_result, validation) and DatabaseTask (task options)
discovery.py the tasks a worker may run, found without importing the path a job row names
results.py   a task's job row: its workspace layout, and the TaskResult read from it
runner.py    the one step of every task job: resolve the task safely, run it, keep its result
"""
