"""Support code of bench/faults.py: its Django settings, tasks, worker pool and checks.

``faults_support`` is a Django app (its one model counts step executions) and is imported with
``bench/`` on ``sys.path``, by the conductor script and by the worker subprocesses it starts.
"""
