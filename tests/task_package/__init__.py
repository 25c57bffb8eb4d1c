"""A package of task modules, listed in task_modules by the tests that use it.

No test imports it: a worker must find its tasks by importing it with its submodules.
"""
