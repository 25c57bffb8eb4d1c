"""The JOBS setting is read into validated JobSpecs; problems carry stable check ids."""

import pytest

from django_dbq.exceptions import (
    ConfigurationError,
    InvalidWorkspaceError,
    UndeclaredTaskError,
    UnknownJobError,
)
from django_dbq.registry import Registry


def ids(registry):
    return sorted(p.check_id for problems in registry.problems.values() for p in problems)


def test_short_form_is_a_list_of_task_paths():
    spec = Registry({"import": ["app.jobs.fetch", "app.jobs.store"]}).get("import")
    assert spec.tasks == ("app.jobs.fetch", "app.jobs.store")
    assert spec.retries == 0 and spec.atomic is False


def test_full_form_reads_hooks_and_options():
    spec = Registry(
        {
            "import": {
                "tasks": ["app.jobs.fetch"],
                "failure_hook": "app.hooks.failed",
                "retries": 3,
                "timeout": 5,
                "atomic": True,
            }
        }
    ).get("import")
    assert spec.failure_hook == "app.hooks.failed"
    assert (spec.retries, spec.timeout, spec.atomic) == (3, 5, True)


def test_jobs_must_be_a_dict():
    assert ids(Registry(["a.b"])) == ["E001"]


def test_unknown_keys_are_reported_with_the_allowed_ones():
    registry = Registry({"j": {"tasks": ["a.b"], "retry": 3}})
    (problem,) = registry.problems["j"]
    assert problem.check_id == "E003"
    assert "retry" in problem.message and "retries" in problem.hint


def test_empty_task_list_is_reported():
    assert ids(Registry({"j": []})) == ["E004"]
    assert ids(Registry({"j": {"hooks": 1}})) == ["E003", "E004"]


def test_task_path_must_be_dotted():
    assert ids(Registry({"j": ["nodots"]})) == ["E005"]


def test_a_job_whose_task_paths_are_not_dotted_can_still_be_enqueued():
    # As in django-db-queue 3.x, which imported a task only when a worker ran it.
    registry = Registry({"j": ["a", "b"]})
    assert registry.get("j").tasks == ("a", "b")
    assert [p.blocks_enqueue for p in registry.problems["j"]] == [False, False]


@pytest.mark.parametrize("hook", ["pre_task_hook", "post_task_hook", "failure_hook"])
def test_a_hook_only_workers_run_does_not_block_enqueueing_when_not_dotted(hook):
    registry = Registry({"j": {"tasks": ["a.b"], hook: "nodots"}})
    assert ids(registry) == ["E005"]
    assert getattr(registry.get("j"), hook) == "nodots"


def test_a_creation_hook_that_is_not_dotted_blocks_enqueueing():
    with pytest.raises(ConfigurationError, match="'creation_hook'.*dotted import path"):
        Registry({"j": {"tasks": ["a.b"], "creation_hook": "nodots"}}).get("j")


@pytest.mark.parametrize("path", ["a." + "b" * 254, 42])
def test_a_task_path_next_task_cannot_hold_blocks_enqueueing(path):
    with pytest.raises(ConfigurationError, match="at most 255 characters"):
        Registry({"j": [path]}).get("j")


def test_other_problems_block_enqueueing_beside_a_path_that_is_not_dotted():
    registry = Registry({"j": {"tasks": ["a"], "workspace_schema": {"type": "banana"}}})
    assert ids(registry) == ["E005", "E007"]
    with pytest.raises(ConfigurationError, match="workspace_schema"):
        registry.get("j")


def test_resolving_a_path_that_does_not_import_names_the_job_and_the_path():
    spec = Registry({"j": ["a", "os.no_such_function"]}).get("j")
    with pytest.raises(ImportError, match="job 'j' cannot import 'a'"):
        spec.resolve("a")
    with pytest.raises(ImportError, match="job 'j' cannot import 'os.no_such_function'"):
        spec.resolve("os.no_such_function")


def test_invalid_json_schema_is_reported():
    registry = Registry({"j": {"tasks": ["a.b"], "workspace_schema": {"type": "banana"}}})
    assert ids(registry) == ["E007"]


@pytest.mark.parametrize(
    "options",
    [{"retries": -1}, {"retries": True}, {"timeout": 0}, {"atomic": "yes"}, {"unique": []}],
)
def test_invalid_options_are_reported(options):
    assert ids(Registry({"j": {"tasks": ["a.b"], **options}})) == ["E008"]


@pytest.mark.parametrize(
    "options",
    [
        {"retries": 1001},
        {"retries": None},
        {"retry_backoff": 1e300},
        {"retry_backoff_max": float("inf")},
        {"timeout": float("nan")},
        {"timeout": 1e10},
    ],
)
def test_options_beyond_their_bounds_are_reported(options):
    assert ids(Registry({"j": {"tasks": ["a.b"], **options}})) == ["E008"]


def test_option_problems_name_the_bounds():
    registry = Registry({"j": {"tasks": ["a.b"], "retries": 5000, "retry_backoff_max": 1e12}})
    messages = [problem.message for problem in registry.problems["j"]]
    assert messages == [
        "JOBS['j']['retries'] must be an integer from 0 to 1000, not 5000.",
        "JOBS['j']['retry_backoff_max'] must be a number of seconds > 0 and at most 31536000 "
        "(one year), not 1000000000000.0.",
    ]


def test_options_at_their_bounds_are_accepted():
    year = 365 * 24 * 3600
    seconds = {"retry_backoff": year, "retry_backoff_max": year, "timeout": year}
    spec = Registry({"j": {"tasks": ["a.b"], "retries": 1000, **seconds}}).get("j")
    assert (spec.retries, spec.retry_backoff, spec.retry_backoff_max, spec.timeout) == (
        1000,
        year,
        year,
        year,
    )


def test_unknown_job_error_names_the_known_jobs():
    with pytest.raises(UnknownJobError, match="'nope'.*'a', 'b'"):
        Registry({"a": ["x.y"], "b": ["x.y"]}).get("nope")


def test_misconfigured_job_raises_configuration_error():
    with pytest.raises(ConfigurationError, match="non-empty list of tasks"):
        Registry({"j": []}).get("j")


def test_only_declared_paths_are_resolved():
    spec = Registry({"j": ["os.getcwd"]}).get("j")
    assert callable(spec.resolve("os.getcwd"))
    with pytest.raises(UndeclaredTaskError, match="does not declare 'os.system'"):
        spec.resolve("os.system")


def test_step_of_falls_back_to_next_task_for_rows_from_3x():
    spec = Registry({"j": ["a.one", "a.two", "a.three"]}).get("j")
    assert spec.step_of(1, "a.two") == 1
    assert spec.step_of(0, "a.three") == 2
    assert spec.step_of(0, "a.gone") is None


def test_a_step_that_agrees_with_next_task_wins_in_a_pipeline_that_repeats_a_path():
    spec = Registry({"j": ["a.fetch", "a.store", "a.fetch", "a.store"]}).get("j")
    assert [spec.step_of(step, spec.tasks[step]) for step in range(4)] == [0, 1, 2, 3]


def test_a_task_list_changed_in_flight_never_rewinds_a_pipeline_that_repeats_a_path():
    # A job at its last step (the second "a.store") when a check step is inserted before it.
    spec = Registry({"j": ["a.fetch", "a.store", "a.fetch", "a.check", "a.store"]}).get("j")
    assert spec.step_of(3, "a.store") is None


def test_a_reordered_task_list_never_runs_finished_steps_again():
    # At step 2 of ["a.one", "a.two", "a.three"] when the list is reordered: "a.three" is
    # declared once, but resuming there would run "a.one" and "a.two" a second time.
    spec = Registry({"j": ["a.three", "a.one", "a.two"]}).get("j")
    assert spec.step_of(2, "a.three") is None


def test_a_row_at_step_0_is_not_guessed_when_its_next_task_repeats():
    spec = Registry({"j": ["a.new_first", "a.fetch", "a.store", "a.fetch"]}).get("j")
    assert spec.step_of(0, "a.fetch") is None
    assert spec.step_of(0, "a.store") == 2


def test_a_row_that_cannot_be_placed_fails_naming_job_step_next_task_and_tasks():
    spec = Registry({"j": ["a.fetch", "a.store", "a.fetch", "a.check", "a.store"]}).get("j")
    with pytest.raises(UndeclaredTaskError) as raised:
        spec.step_index(3, "a.store")
    message = str(raised.value)
    assert "job 'j' is at step 3 with next_task 'a.store'" in message
    assert "declares as step 1 and 4" in message
    assert str(list(spec.tasks)) in message


def test_a_row_naming_an_undeclared_task_fails_naming_job_step_next_task_and_tasks():
    spec = Registry({"j": ["a.one"]}).get("j")
    with pytest.raises(UndeclaredTaskError, match=r"job 'j' at step 2 has next_task 'os.system'"):
        spec.step_index(2, "os.system")


def test_workspace_must_be_an_object():
    spec = Registry({"j": ["a.b"]}).get("j")
    with pytest.raises(InvalidWorkspaceError, match="must be a JSON object"):
        spec.validate_workspace([1, 2])


def test_workspace_must_be_json_serialisable():
    spec = Registry({"j": ["a.b"]}).get("j")
    with pytest.raises(InvalidWorkspaceError, match="not JSON-serialisable"):
        spec.validate_workspace({"when": object()})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"nested": [float("-inf")]}])
def test_workspace_must_not_hold_nan_or_infinity(value):
    spec = Registry({"j": ["a.b"]}).get("j")
    with pytest.raises(InvalidWorkspaceError, match="not JSON-serialisable"):
        spec.validate_workspace({"x": value})


def test_empty_and_plain_workspaces_are_valid():
    spec = Registry({"j": ["a.b"]}).get("j")
    assert spec.validate_workspace({}) is None  # None: no InvalidWorkspaceError raised
    assert spec.validate_workspace({"a": [1, 2.5, None, True], "b": {"c": "d"}}) is None


def test_schema_violation_names_the_field_and_the_reason():
    spec = Registry(
        {
            "j": {
                "tasks": ["a.b"],
                "workspace_schema": {
                    "type": "object",
                    "properties": {"count": {"type": "integer", "minimum": 0}},
                },
            }
        }
    ).get("j")
    with pytest.raises(InvalidWorkspaceError, match="at count: -1 is less than the minimum of 0"):
        spec.validate_workspace({"count": -1})


def test_the_registry_and_its_cached_validators_follow_override_settings():
    from django.test import override_settings

    from django_dbq.registry import get_registry

    def jobs(minimum):
        schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": minimum}}}
        return {"j": {"tasks": ["a.b"], "workspace_schema": schema}}

    with override_settings(JOBS=jobs(0)):
        get_registry().get("j").validate_workspace({"n": 0})
        with override_settings(JOBS=jobs(1)):
            with pytest.raises(InvalidWorkspaceError, match="less than the minimum of 1"):
                get_registry().get("j").validate_workspace({"n": 0})
        get_registry().get("j").validate_workspace({"n": 0})
    with pytest.raises(UnknownJobError):
        get_registry().get("j")
