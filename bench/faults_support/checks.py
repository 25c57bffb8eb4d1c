"""The verdict of a fault-injection run, computed from plain data (no Django here).

Why "ran more than once" is allowed only up to the job's rescues: a step's outcome is written by
an UPDATE guarded by the lease owner, so a worker either records the step (and the job moves on)
or writes nothing. A worker records an outcome at once, or (plain jobs) a few milliseconds
later together with others (django_dbq/outcomes.py); a step whose outcome was not yet written
when its worker died counts as interrupted, like a running one. The job goes back to READY at
an unrecorded step only through a rescue (the lease expired: rescues += 1); this run has no
retries, so a failing step would end the job FAILED, not re-run it. Each claim runs a step at
most once, and another claim of the same step needs a rescue first, so every step of a job runs
at most 1 + rescues times, and every execution but the last was in flight (running, or its
outcome unwritten) when its worker was SIGKILLed or had its connection killed.

At most once at a time: the execution log (executions.py) times every run of a step, committed
or not; no run of a job's step may start before an earlier run of the same step, or of any
other step of that job, has ended (a run killed by a SIGKILL ended then), whichever workers or
threads ran them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

STEPS = ("a", "b", "c")
ATOMIC = "chaos_atomic"
PLAIN = "chaos_plain"


@dataclass(frozen=True)
class JobRow:
    """A job as the run left it."""

    name: str
    state: str
    steps: list | None  # workspace["steps"]
    rescues: int
    last_error: str = ""


@dataclass(frozen=True)
class Run:
    """One recorded execution of a step."""

    job_id: str
    step: str
    pid: int
    started: float


@dataclass(frozen=True)
class Execution:
    """One run of a step from the execution log; ``ended`` None when no end was logged."""

    job_id: str
    step: str
    atomic: bool
    pid: int
    thread: str
    started: float
    ended: float | None


@dataclass(frozen=True)
class ConnectionKill:
    """The workers' connections were killed at ``at``; ``pids`` were the workers then alive."""

    at: float
    pids: frozenset[int]


@dataclass
class Faults:
    """What the conductor did during the run."""

    sigkilled: dict[int, float] = field(default_factory=dict)  # pid -> time of SIGKILL
    connection_kills: list[ConnectionKill] = field(default_factory=list)
    connections_killed: int = 0
    crashed_workers: list[str] = field(default_factory=list)  # described
    shutdown_codes: dict[int, int | None] = field(default_factory=dict)  # pid -> exit code


@dataclass
class Verdict:
    """Counts and violations; ``ok`` when there is no violation."""

    jobs_created: int = 0
    jobs_lost: int = 0
    jobs_not_completed: int = 0
    wrong_workspace: int = 0
    step_executions: int = 0
    rescues_total: int = 0
    jobs_rescued: int = 0
    max_rescues: int = 0
    plain_repeated_steps: int = 0
    plain_extra_executions: int = 0
    explained_by_sigkill: int = 0
    explained_by_connection_kill: int = 0
    unexplained_repeats: int = 0
    plain_over_rescue_bound: int = 0
    atomic_steps_not_exactly_once: int = 0
    atomic_attempts: int | None = None
    atomic_commits: int = 0
    executions_timed: int = 0  # runs in the execution log with a known end
    executions_unended: int = 0  # no end logged and no SIGKILL of its process: not judged
    overlapping_runs: int = 0  # runs that started while a run of the same step was going on
    overlapping_jobs: int = 0  # runs that started while another step of the job was running
    missing_steps: int = 0
    stray_runs: int = 0
    states: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def violate(self, message: str, limit: int = 10) -> None:
        """Record a violation; after ``limit`` of one kind, only count them."""
        kind = message.split(":", 1)[0]
        same = sum(1 for v in self.violations if v.split(":", 1)[0] == kind)
        if same < limit:
            self.violations.append(message)
        elif same == limit:
            self.violations.append(f"{kind}: ... (more not shown)")


def judge(
    created: dict[str, str],
    jobs: dict[str, JobRow],
    runs: list[Run],
    faults: Faults,
    lease_seconds: float,
    executions: list[Execution] | None = None,
    step_seconds: float = 0.0,
) -> Verdict:
    """Check every promise on the data of a finished run.

    ``executions`` is the execution log (None: not kept); ``step_seconds`` the longest a step
    sleeps, so that a step in flight at a connection kill may have started that much earlier.
    """
    v = Verdict(jobs_created=len(created))
    if executions is not None:
        v.atomic_attempts = sum(1 for execution in executions if execution.atomic)
        _judge_overlaps(v, executions, faults)
    runs_of: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        runs_of[(run.job_id, run.step)].append(run)
    v.step_executions = len(runs)
    v.stray_runs = sum(1 for run in runs if run.job_id not in created)
    if v.stray_runs:
        v.violate(f"stray executions: {v.stray_runs} rows name a job the run did not create")

    for job_id, name in created.items():
        job = jobs.get(job_id)
        if job is None:
            v.jobs_lost += 1
            v.violate(f"job lost: {job_id} ({name}) is gone from the table")
            continue
        v.states[job.state] += 1
        v.rescues_total += job.rescues
        v.jobs_rescued += job.rescues > 0
        v.max_rescues = max(v.max_rescues, job.rescues)
        if job.state != "COMPLETED":
            v.jobs_not_completed += 1
            v.violate(
                f"job not completed: {job_id} ({name}) is {job.state}; "
                f"rescues={job.rescues} last_error={job.last_error[:200]!r}"
            )
            continue
        if job.steps != list(STEPS):
            v.wrong_workspace += 1
            v.violate(f"wrong workspace: {job_id} ({name}) steps={job.steps!r}")
        counts = {step: len(runs_of.get((job_id, step), [])) for step in STEPS}
        for step, count in counts.items():
            if count == 0:
                v.missing_steps += 1
                v.violate(f"step never ran: {job_id} ({name}) step {step} has no execution")
        if name == ATOMIC:
            v.atomic_commits += sum(counts.values())
            for step, count in counts.items():
                if count > 1:
                    v.atomic_steps_not_exactly_once += 1
                    v.violate(
                        f"atomic effect not exactly once: {job_id} step {step} "
                        f"committed {count} times"
                    )
            continue
        _judge_plain_repeats(v, job_id, job, counts, runs_of, faults, lease_seconds + step_seconds)

    if v.atomic_attempts is not None and v.atomic_attempts < v.atomic_commits:
        v.violate(
            f"execution log incomplete: {v.atomic_attempts} atomic attempts logged but "
            f"{v.atomic_commits} committed"
        )
    for description in faults.crashed_workers:
        v.violate(f"worker crashed: {description}")
    for pid, code in sorted(faults.shutdown_codes.items()):
        if code != 0:
            v.violate(f"unclean shutdown: worker pid={pid} exited {code} after one SIGTERM")
    return v


def _judge_plain_repeats(
    v: Verdict,
    job_id: str,
    job: JobRow,
    counts: dict[str, int],
    runs_of: dict[tuple[str, str], list[Run]],
    faults: Faults,
    window: float,
) -> None:
    v.plain_extra_executions += sum(max(0, count - 1) for count in counts.values())
    for step, count in counts.items():
        if count <= 1:
            continue
        v.plain_repeated_steps += 1
        if count > 1 + job.rescues:
            v.plain_over_rescue_bound += 1
            v.violate(
                f"more repeats than rescues: {job_id} step {step} ran {count} times but the "
                f"job was rescued {job.rescues} times"
            )
        # The execution that advanced the job started last: the others were interrupted.
        interrupted = sorted(runs_of[(job_id, step)], key=lambda run: run.started)[:-1]
        for run in interrupted:
            cause = explain(run, faults, window)
            if cause == "sigkill":
                v.explained_by_sigkill += 1
            elif cause == "connection_kill":
                v.explained_by_connection_kill += 1
            else:
                v.unexplained_repeats += 1
                v.violate(
                    f"repeat without a fault: {job_id} step {step} run by pid {run.pid} "
                    f"at {run.started:.3f} was interrupted, but no kill explains it"
                )


def explain(run: Run, faults: Faults, window: float) -> str | None:
    """Which fault interrupted this execution: "sigkill", "connection_kill" or None.

    ``window``: how long before a connection kill a step in flight at it may have started (a
    lease, plus the longest step).
    """
    killed_at = faults.sigkilled.get(run.pid)
    if killed_at is not None and run.started <= killed_at:
        return "sigkill"
    for kill in faults.connection_kills:
        # In flight at the kill: started at most a window before it, or just after it (the
        # server ends a terminated session asynchronously).
        if run.pid in kill.pids and kill.at - window <= run.started <= kill.at + 1.0:
            return "connection_kill"
    return None


def _judge_overlaps(v: Verdict, executions: list[Execution], faults: Faults) -> None:
    """One runner at a time: no run of a job's step starts before an earlier run of it ended.

    The same step run twice at once breaks "a step runs at most once at a time"; two steps of
    one job at once (its next step started by a worker that lost the job, while another worker
    reruns the step before) break "no two workers hold the same job". A run whose end was not
    logged ended when its process was SIGKILLed; one that has neither (its worker crashed, a
    finding of its own) cannot be judged and is only counted.
    """
    runs_of: dict[str, list[Execution]] = defaultdict(list)
    for execution in executions:
        runs_of[execution.job_id].append(execution)
    for job_id, runs in runs_of.items():
        going: list[tuple[float, Execution]] = []  # (end, run) of the runs started so far
        for run in sorted(runs, key=lambda execution: execution.started):
            ended = run.ended if run.ended is not None else faults.sigkilled.get(run.pid)
            for end, earlier in going:
                if run.started < end:
                    _overlap(v, job_id, run, earlier, end)
                    break
            if ended is None:
                v.executions_unended += 1
            else:
                v.executions_timed += 1
                going.append((ended, run))


def _overlap(v: Verdict, job_id: str, run: Execution, earlier: Execution, end: float) -> None:
    kind = "atomic" if run.atomic else "plain"
    if run.step == earlier.step:
        v.overlapping_runs += 1
        what = f"step run twice at once: {job_id} ({kind}) step {run.step}"
    else:
        v.overlapping_jobs += 1
        what = f"job run twice at once: {job_id} ({kind}) step {run.step}"
    v.violate(
        f"{what} started at {run.started:.3f} in pid {run.pid} {run.thread} while pid "
        f"{earlier.pid} {earlier.thread} ran step {earlier.step} ({earlier.started:.3f} to "
        f"{end:.3f})"
    )
