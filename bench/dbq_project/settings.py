"""Settings for benchmarking django_dbq from this working tree."""

import os

from benchlib.dbsettings import base_settings

globals().update(base_settings())

INSTALLED_APPS = ["django_dbq", "dbq_project"]

JOBS = {
    "noop": ["dbq_project.tasks.noop"],
    "pipeline": [
        "dbq_project.tasks.step_one",
        "dbq_project.tasks.step_two",
        "dbq_project.tasks.step_three",
    ],
    "probe": ["dbq_project.tasks.probe"],
    # The I/O-bound workload: a step that waits, behind start gates (see tasks.gate).
    "io": ["dbq_project.tasks.wait_on_io"],
    "io_gate": ["dbq_project.tasks.gate"],
    # Bulk enqueue with everything enqueue does: a workspace schema and a creation hook.
    "validated": {
        "tasks": ["dbq_project.tasks.noop"],
        "workspace_schema": {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0}},
            "required": ["n"],
        },
        "creation_hook": "dbq_project.tasks.on_create",
    },
}

# The flow workload (benchlib/flow_workload.py): jobs under a concurrency key and a rate limit,
# declared in the workers' JOBS only for its cases (BENCH_FLOW=1), so that every other workload
# runs with no limit declared, as an application without flow control does.
FLOW_JOBS = {
    "keyed": {"tasks": ["dbq_project.tasks.noop"], "concurrency": {"key": ["k"], "limit": 1}},
    "rated": {"tasks": ["dbq_project.tasks.noop"], "rate_limit": "1000/s"},
}
if os.environ.get("BENCH_FLOW"):
    JOBS = {**JOBS, **FLOW_JOBS}

# Tuning knobs can be tried without editing this file, e.g. BENCH_DBQ_CLAIM_BATCH_SIZE=50.
_KNOBS = {
    "DBQ_CLAIM_BATCH_SIZE": int,
    "DBQ_POLL_INTERVAL": float,
    "DBQ_OUTCOME_DELAY": float,
    "DBQ_LEASE_SECONDS": float,
}
for _knob, _type in _KNOBS.items():
    if os.environ.get("BENCH_" + _knob):
        globals()[_knob] = _type(os.environ["BENCH_" + _knob])

# The baseline model copies Job's partial claim index; MariaDB builds it as a full index.
SILENCED_SYSTEM_CHECKS = ["models.W037"]
