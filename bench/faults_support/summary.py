"""The fault-injection run's verdict, printed so that a reader needs nothing else."""

from __future__ import annotations

import textwrap
from typing import Any

from .checks import ATOMIC, Verdict
from .options import Options


def say(message: str) -> None:
    """Print a progress or summary line at once."""
    print(message, flush=True)


def summarize(options: Options, vendor: str, v: Verdict, run: Any, elapsed: float) -> None:
    """Print the verdict so that a reader needs nothing else."""
    atomic_jobs = sum(1 for name in run.created.values() if name == ATOMIC)
    f = run.faults
    must0 = "(must be 0)"
    say("")
    say("django_dbq fault injection: results")
    say(
        f"  setup     {vendor}, {options.jobs} jobs x 3 steps ({atomic_jobs} atomic), "
        f"{options.workers} workers x {options.concurrency} threads, "
        f"{options.duration:g} s of faults, lease {options.lease_seconds:g} s, steps up to "
        f"{options.step_seconds:g} s, atomic steps {'' if options.save_in_step else 'do not '}"
        f"call job.save(), seed {options.seed}, {elapsed:.1f} s in all"
    )
    say(
        f"  faults    {len(f.sigkilled)} workers SIGKILLed and replaced, "
        f"{len(f.connection_kills)} connection kills ({f.connections_killed} connections)"
    )
    say(
        f"  final     states {dict(sorted(v.states.items()))}; "
        f"{v.step_executions} rows in the step log"
    )
    say(f"  jobs lost .................................. {v.jobs_lost} {must0}")
    say(f"  jobs not COMPLETED ......................... {v.jobs_not_completed} {must0}")
    say(f"  jobs with a wrong workspace ................ {v.wrong_workspace} {must0}")
    say(f"  steps that never ran ....................... {v.missing_steps} {must0}")
    say(
        f"  rescues (expired leases returned to queue) . {v.rescues_total} in "
        f"{v.jobs_rescued} jobs, at most {v.max_rescues} for one job"
    )
    say(
        f"  plain jobs: steps run more than once ....... {v.plain_repeated_steps} "
        f"({v.plain_extra_executions} extra executions)"
    )
    say(
        f"    interrupted by a SIGKILL ................. {v.explained_by_sigkill}; "
        f"by a connection kill {v.explained_by_connection_kill}"
    )
    say(f"    interrupted by no fault .................. {v.unexplained_repeats} {must0}")
    say(f"    steps run more than 1 + rescues times .... {v.plain_over_rescue_bound} {must0}")
    rolled_back = (
        f"; {v.atomic_attempts} attempts, so {v.atomic_attempts - v.atomic_commits} "
        "interrupted and rolled back"
        if v.atomic_attempts is not None
        else ""
    )
    say(
        f"  atomic jobs: committed step effects ........ {v.atomic_commits} "
        f"for {atomic_jobs} jobs{rolled_back}"
    )
    say(f"    steps committed other than once .......... {v.atomic_steps_not_exactly_once} {must0}")
    say(
        f"  steps run twice at once .................... {v.overlapping_runs} {must0}; "
        f"{v.executions_timed} runs timed, {v.executions_unended} with no known end"
    )
    say(f"  jobs running two of their steps at once .... {v.overlapping_jobs} {must0}")
    say(f"  workers that crashed ....................... {len(f.crashed_workers)} {must0}")
    unclean = sum(1 for code in f.shutdown_codes.values() if code != 0)
    say(
        f"  workers not exiting 0 after one SIGTERM .... {unclean} of "
        f"{len(f.shutdown_codes)} {must0}"
    )
    why = (
        "why repeats are allowed: a step's outcome is written by one UPDATE guarded by the "
        "lease, so a step interrupted before its outcome was written (running, or its outcome "
        "still buffered for a grouped write) leaves its job PROCESSING until the lease expires "
        "and a rescue (rescues += 1) returns it; only then can the step run again. So a plain "
        "job's step runs at most 1 + rescues times, each extra run in flight at a fault. An "
        "atomic step's writes commit with the job's advance, so they count exactly once."
    )
    for line in textwrap.wrap(why, 96, initial_indent="  ", subsequent_indent="    "):
        say(line)
    if v.ok:
        say("PASS: every promise held")
    else:
        say(f"FAIL: {len(v.violations)} violation(s)")
        for message in v.violations:
            say(f"  - {message}")
