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
    atomic_attempts: int | None = None,
) -> Verdict:
    """Check every promise on the data of a finished run."""
    v = Verdict(jobs_created=len(created), atomic_attempts=atomic_attempts)
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
        _judge_plain_repeats(v, job_id, job, counts, runs_of, faults, lease_seconds)

    if atomic_attempts is not None and atomic_attempts < v.atomic_commits:
        v.violate(
            f"attempt log incomplete: {atomic_attempts} atomic attempts logged but "
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
    lease_seconds: float,
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
            cause = explain(run, faults, lease_seconds)
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


def explain(run: Run, faults: Faults, lease_seconds: float) -> str | None:
    """Which fault interrupted this execution: "sigkill", "connection_kill" or None."""
    killed_at = faults.sigkilled.get(run.pid)
    if killed_at is not None and run.started <= killed_at:
        return "sigkill"
    for kill in faults.connection_kills:
        # In flight at the kill: started at most a lease before it (steps take milliseconds),
        # or just after it (the server ends a terminated session asynchronously).
        if run.pid in kill.pids and kill.at - lease_seconds <= run.started <= kill.at + 1.0:
            return "connection_kill"
    return None
