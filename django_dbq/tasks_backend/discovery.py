"""The tasks a worker may run, found without importing the path a job row names.

The database is data, never code to run. A task job's row names its task by import path, but
that path is never imported. It is looked up among the tasks defined in this process: every
task a DatabaseBackend validated is remembered by its path when its module runs the ``@task``
decorator. When the path is not known yet, the modules tasks are declared in are imported, once
per process, and the path is looked up again. Those modules are the ``tasks`` module of each
installed app and the modules listed in a backend's ``OPTIONS["task_modules"]`` (a package is
imported with all its submodules). A module named only by a row never runs, so neither its
import side effects nor a function in it that is not a task can be triggered from the database.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

logger = logging.getLogger(__name__)

# Every task a DatabaseBackend has validated in this process, by its import path.
_defined: dict[str, Any] = {}
# Task modules imported (or found broken, with the error) by import_task_modules.
_imported: dict[str, str] = {}
_lock = threading.Lock()


def remember(task: Any) -> None:
    """Record a validated task, so a worker of this process can find it by its path."""
    _defined[task.module_path] = task


def defined(path: str) -> Any | None:
    """The task remembered at ``path``, or None."""
    return _defined.get(path)


def in_task_module(module: str, task_modules: Iterable[str]) -> bool:
    """Whether ``module`` is (inside) an installed app's ``tasks`` or one of ``task_modules``."""
    roots = (*(f"{app.name}.tasks" for app in apps.get_app_configs()), *task_modules)
    return any(module == root or module.startswith(root + ".") for root in roots)


def import_task_modules(task_modules: Iterable[str]) -> list[str]:
    """Import the task modules not imported yet; returns the errors of broken ones, ever."""
    roots = [
        f"{app.name}.tasks"
        for app in apps.get_app_configs()
        if module_has_submodule(app.module, "tasks")
    ]
    with _lock:
        for root in (*roots, *task_modules):
            if root in _imported:
                continue
            try:
                _import_with_submodules(root)
            except Exception as error:
                # Not tried again: importing a broken module again would repeat its side effects.
                logger.error("event=task_module_broken module=%s error=%r", root, error)
                _imported[root] = f"{root}: {type(error).__name__}: {error}"
            else:
                _imported[root] = ""
        return [error for error in _imported.values() if error]


def _import_with_submodules(name: str) -> None:
    module = importlib.import_module(name)
    for found in pkgutil.walk_packages(getattr(module, "__path__", ()), prefix=name + "."):
        importlib.import_module(found.name)
