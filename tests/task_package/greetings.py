"""A task in a submodule of a package listed in task_modules."""

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task
def hello(name):
    return f"hello {name}"
