"""Tasks of Django's tasks framework that the tests run on django_dbq's DatabaseBackend.

Imported only by tests that found the framework (django.tasks, or the django-tasks backport).
"""

import asyncio
import time

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from tests.tasks import CALLS


@task
def add(a, b):
    return a + b


@task
def echo(*args, **kwargs):
    return {"args": args, "kwargs": kwargs}


@task(queue_name="emails", priority=10)
def send_email(to):
    CALLS.append(("send_email", to))
    return f"sent to {to}"


@task
def fail():
    raise ValueError("boom")


@task
async def async_double(x):
    await asyncio.sleep(0)
    return x * 2


@task(takes_context=True)
def attempt_report(context, succeed_on=1):
    """Fails until attempt ``succeed_on``; returns what the context said."""
    if context.attempt < succeed_on:
        raise RuntimeError(f"attempt {context.attempt} failed")
    return {
        "attempt": context.attempt,
        "id": context.task_result.id,
        "worker_ids": context.task_result.worker_ids,
    }


# django_dbq's options, set with .using() (Django 6.1 and the backport also take them in @task).
@task(takes_context=True)
def _flaky(context, succeed_on):
    if context.attempt < succeed_on:
        raise RuntimeError(f"attempt {context.attempt} failed")
    return context.attempt


flaky = _flaky.using(retries=2, retry_backoff=0.01)


@task
def _sleep(seconds):
    time.sleep(seconds)


sleep = _sleep.using(timeout=0.2)


@task
def return_a_set():
    return {1, 2}


def _kept_plain():
    return "the worker would find this function, not the task made from it"


renamed = task(_kept_plain)


def plain_function():
    """Not a task: a job row naming it must not run it."""
    CALLS.append(("plain_function",))
