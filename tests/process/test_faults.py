"""The fault-injection run (bench/faults.py), CI-sized, and the checks it makes.

The run: 3 workers run 300 three-step jobs while the script SIGKILLs a worker about every second
and kills the workers' database connections now and then; every job must complete, and steps may
repeat only as the promises allow. See docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys

import pytest
from django.db import Error, connection, connections

from tests.conftest import ROOT, database_url_for_subprocesses

SCRIPT = ROOT / "bench" / "faults.py"
JOBS = int(os.environ.get("DBQ_FAULTS_TEST_JOBS", 300))
DURATION = float(os.environ.get("DBQ_FAULTS_TEST_DURATION", 10))
TIMEOUT = 300  # seconds: the script bounds itself to about DURATION + 80 with these options


def load_checks():
    """bench/faults_support/checks.py, which needs neither Django nor bench/ on sys.path."""
    path = ROOT / "bench" / "faults_support" / "checks.py"
    spec = importlib.util.spec_from_file_location("dbq_faults_checks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module while being built
    spec.loader.exec_module(module)
    return module


checks = load_checks()


def close_connections() -> None:
    """The run may have killed this process's connections too (MariaDB): drop them."""
    for conn in connections.all():
        try:
            conn.close()
        except Error:
            conn.connection = None


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_fault_injection_run_keeps_every_promise():
    command = [
        sys.executable,
        str(SCRIPT),
        "--database-url",
        database_url_for_subprocesses(),
        "--jobs",
        str(JOBS),
        "--workers",
        "3",
        "--duration",
        str(DURATION),
        "--lease-seconds",
        "2",
        "--drain-timeout",
        "60",
        "--seed",
        os.environ.get("DBQ_FAULTS_TEST_SEED", "1"),
    ]  # no --log-dir: the logs go to a temporary folder, kept (and named) if the run fails
    # Its own session: on a timeout the whole group (script and workers) is killed.
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"bench/faults.py did not finish within {TIMEOUT} s:\n{output}")
    finally:
        close_connections()

    assert process.returncode == 0, output
    assert "PASS: every promise held" in output

    def count(label: str) -> int:
        match = re.search(rf"{re.escape(label)} \.+ (\d+)", output)
        assert match, f"no {label!r} line in:\n{output}"
        return int(match.group(1))

    assert count("jobs lost") == 0
    assert count("jobs not COMPLETED") == 0
    assert count("steps committed other than once") == 0
    assert count("interrupted by no fault") == 0
    # The faults did happen: workers were killed, and so were connections (SQLite has none).
    faults = re.search(r"faults +(\d+) workers SIGKILLed.*?, (\d+) connection kills", output)
    assert faults, output
    assert int(faults.group(1)) >= 3
    assert int(faults.group(2)) >= (0 if connection.vendor == "sqlite" else 1)


# The checks themselves, on made-up runs: each broken promise is caught.

JOB, OTHER = "job-1", "job-2"


def completed(name: str = checks.PLAIN, rescues: int = 0) -> checks.JobRow:
    return checks.JobRow(name, "COMPLETED", ["a", "b", "c"], rescues)


def runs(job_id: str, *steps: str, pid: int = 10, started: float = 100.0) -> list:
    return [checks.Run(job_id, step, pid, started + i) for i, step in enumerate(steps)]


def judge(created, jobs, step_runs, faults=None):
    return checks.judge(created, jobs, step_runs, faults or checks.Faults(), lease_seconds=2)


def test_checks_pass_a_clean_run():
    verdict = judge({JOB: checks.PLAIN}, {JOB: completed()}, runs(JOB, "a", "b", "c"))
    assert verdict.ok, verdict.violations


def test_checks_catch_a_lost_job_and_a_job_not_completed():
    failed = checks.JobRow(checks.ATOMIC, "FAILED", ["a"], 0, "boom")
    verdict = judge({JOB: checks.PLAIN, OTHER: checks.ATOMIC}, {OTHER: failed}, runs(OTHER, "a"))
    assert (verdict.jobs_lost, verdict.jobs_not_completed) == (1, 1)
    assert not verdict.ok


def test_checks_catch_an_atomic_step_committed_twice():
    step_runs = runs(JOB, "a", "b", "c") + runs(JOB, "b", started=200)
    verdict = judge({JOB: checks.ATOMIC}, {JOB: completed(checks.ATOMIC, rescues=1)}, step_runs)
    assert verdict.atomic_steps_not_exactly_once == 1
    assert not verdict.ok


def test_checks_allow_a_repeat_in_flight_at_a_sigkill_within_the_rescues():
    step_runs = runs(JOB, "a", pid=10) + runs(JOB, "a", "b", "c", pid=11, started=200)
    faults = checks.Faults(sigkilled={10: 150.0})
    verdict = judge({JOB: checks.PLAIN}, {JOB: completed(rescues=1)}, step_runs, faults)
    assert verdict.ok, verdict.violations
    assert verdict.explained_by_sigkill == 1


def test_checks_catch_a_repeat_that_no_fault_explains():
    step_runs = runs(JOB, "a", pid=10) + runs(JOB, "a", "b", "c", pid=11, started=200)
    verdict = judge({JOB: checks.PLAIN}, {JOB: completed(rescues=1)}, step_runs)
    assert verdict.unexplained_repeats == 1
    assert not verdict.ok


def test_checks_catch_more_repeats_than_rescues():
    step_runs = runs(JOB, "a", pid=10) + runs(JOB, "a", "b", "c", pid=11, started=200)
    faults = checks.Faults(sigkilled={10: 150.0})
    verdict = judge({JOB: checks.PLAIN}, {JOB: completed(rescues=0)}, step_runs, faults)
    assert verdict.plain_over_rescue_bound == 1
    assert not verdict.ok


def test_checks_catch_a_crashed_worker_and_an_unclean_shutdown():
    faults = checks.Faults(crashed_workers=["pid=7 exit=1"], shutdown_codes={8: 0, 9: -15})
    verdict = judge({JOB: checks.PLAIN}, {JOB: completed()}, runs(JOB, "a", "b", "c"), faults)
    assert len(verdict.violations) == 2


def execution(pid: int, started: float, ended: float | None, thread: str = "dbq-worker-1"):
    return checks.Execution(JOB, "a", False, pid, thread, started, ended)


def test_checks_catch_a_step_run_twice_at_once():
    executions = [execution(10, 100.0, 110.0), execution(10, 105.0, 108.0, "dbq-worker-2")]
    step_runs = runs(JOB, "a", pid=10) + runs(JOB, "a", "b", "c", pid=10, started=105)
    verdict = checks.judge(
        {JOB: checks.PLAIN}, {JOB: completed(rescues=1)}, step_runs, checks.Faults(), 2, executions
    )
    assert verdict.overlapping_runs == 1
    assert any(v.startswith("step run twice at once") for v in verdict.violations)


def test_checks_take_a_sigkill_as_the_end_of_the_runs_it_cut_short():
    executions = [execution(10, 100.0, None), execution(11, 200.0, 201.0)]
    step_runs = runs(JOB, "a", pid=10) + runs(JOB, "a", "b", "c", pid=11, started=200)
    faults = checks.Faults(sigkilled={10: 150.0})
    verdict = checks.judge(
        {JOB: checks.PLAIN}, {JOB: completed(rescues=1)}, step_runs, faults, 2, executions
    )
    assert verdict.ok, verdict.violations
    assert (verdict.overlapping_runs, verdict.executions_timed) == (0, 2)


def test_checks_catch_two_steps_of_one_job_running_at_once():
    # A worker that lost the job runs its next step while another reruns the step before.
    executions = [
        checks.Execution(JOB, "a", False, 10, "dbq-worker-1", 100.0, 101.0),
        checks.Execution(JOB, "b", False, 10, "dbq-worker-1", 101.0, 104.0),
        checks.Execution(JOB, "a", False, 11, "dbq-worker-2", 102.0, 103.0),
    ]
    step_runs = runs(JOB, "a", "b", pid=10) + runs(JOB, "a", "b", "c", pid=11, started=102)
    verdict = checks.judge(
        {JOB: checks.PLAIN}, {JOB: completed(rescues=1)}, step_runs, checks.Faults(), 2, executions
    )
    assert (verdict.overlapping_runs, verdict.overlapping_jobs) == (0, 1)
    assert any(v.startswith("job run twice at once") for v in verdict.violations)
