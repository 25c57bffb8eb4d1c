"""Next occurrences and catch-up plans, with time frozen by passing ``now`` in."""

import datetime
import zoneinfo

import pytest

from django_dbq.exceptions import InvalidScheduleError
from django_dbq.recurrence import (
    CatchUp,
    Cron,
    Interval,
    format_duration,
    parse_interval,
    plan,
    validate_cron,
)

UTC = datetime.timezone.utc
LONDON = zoneinfo.ZoneInfo("Europe/London")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def local(tz, *args, fold=0):
    return datetime.datetime(*args, tzinfo=tz, fold=fold).astimezone(UTC)


def take(recurrence, after, count):
    found = []
    for occurrence in recurrence.occurrences_after(after):
        found.append(occurrence)
        if len(found) == count:
            return found


# -- cron ------------------------------------------------------------------------------------


def test_cron_next_occurrence_is_strictly_after_the_given_time():
    nightly = Cron("0 3 * * *", tz=UTC)
    assert nightly.next_after(utc(2026, 1, 10, 2, 59)) == utc(2026, 1, 10, 3, 0)
    assert nightly.next_after(utc(2026, 1, 10, 3, 0)) == utc(2026, 1, 11, 3, 0)


def test_cron_is_evaluated_in_the_given_time_zone():
    nightly = Cron("0 3 * * *", tz=NEW_YORK)
    # 03:00 in New York in January is 08:00 UTC.
    assert nightly.next_after(utc(2026, 1, 10, 0, 0)) == utc(2026, 1, 10, 8, 0)


def test_cron_uses_the_project_time_zone_by_default(settings):
    settings.TIME_ZONE = "America/New_York"
    assert Cron("0 3 * * *").next_after(utc(2026, 7, 1)) == utc(2026, 7, 1, 7, 0)


def test_nightly_cron_runs_once_each_night_across_both_dst_changes():
    nightly = Cron("0 3 * * *", tz=LONDON)
    # Clocks go forward on 2026-03-29 and back on 2026-10-25, each at 01:00 UTC.
    spring = take(nightly, utc(2026, 3, 27, 12), 4)
    assert spring == [local(LONDON, 2026, 3, d, 3, 0) for d in (28, 29, 30, 31)]
    assert [o.hour for o in spring] == [3, 2, 2, 2]  # 03:00 GMT, then 03:00 BST = 02:00 UTC
    autumn = take(nightly, utc(2026, 10, 23, 12), 4)
    assert autumn == [local(LONDON, 2026, 10, d, 3, 0) for d in (24, 25, 26, 27)]


def test_a_time_skipped_when_clocks_go_forward_runs_right_after_the_gap():
    # 01:30 does not exist in London on 2026-03-29 (01:00 GMT jumps to 02:00 BST).
    half_past_one = Cron("30 1 * * *", tz=LONDON)
    assert take(half_past_one, utc(2026, 3, 27, 12), 3) == [
        local(LONDON, 2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),  # 02:00 BST, the first moment after the gap
        local(LONDON, 2026, 3, 30, 1, 30),
    ]


def test_a_fixed_time_repeated_when_clocks_go_back_runs_once():
    # 01:30 happens twice in London on 2026-10-25; croniter alone would fire at both.
    half_past_one = Cron("30 1 * * *", tz=LONDON)
    assert take(half_past_one, utc(2026, 10, 24, 12), 2) == [
        local(LONDON, 2026, 10, 25, 1, 30, fold=0),  # 00:30 UTC, the first 01:30
        local(LONDON, 2026, 10, 26, 1, 30),
    ]


def test_several_times_in_the_skipped_hour_run_once_right_after_the_gap():
    twice_an_hour = Cron("15,45 1 * * *", tz=LONDON)
    assert take(twice_an_hour, utc(2026, 3, 28, 12), 2) == [
        utc(2026, 3, 29, 1, 0),
        local(LONDON, 2026, 3, 30, 1, 15),
    ]


def test_an_hourly_cron_runs_in_both_copies_of_a_repeated_hour():
    hourly = Cron("0 * * * *", tz=LONDON)
    # Every real hour: 00:00, 01:00 and 02:00 UTC are 01:00 BST, 01:00 GMT and 02:00 GMT.
    assert take(hourly, utc(2026, 10, 24, 23, 30), 3) == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 2, 0),
    ]


def test_an_hourly_cron_runs_every_real_hour_when_clocks_go_forward():
    hourly = Cron("0 * * * *", tz=LONDON)
    assert take(hourly, utc(2026, 3, 28, 23, 30), 3) == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 2, 0),
    ]


def test_cron_aliases_are_accepted():
    assert Cron("@daily", tz=UTC).next_after(utc(2026, 1, 1, 5)) == utc(2026, 1, 2)
    assert validate_cron(" @HOURLY ") == "@hourly"


@pytest.mark.parametrize(
    "expression, complaint",
    [
        ("", "non-empty"),
        ("0 3 * *", "must have 5 fields"),
        ("0 3 * * * *", "must have 5 fields"),
        ("61 * * * *", "invalid cron expression"),
        ("0 3 31 2 *", "invalid cron expression"),  # never fires
        ("@fortnightly", "unknown cron alias"),
        ("a b c d e", "invalid cron expression"),
        (None, "non-empty string"),
    ],
)
def test_invalid_cron_expressions_are_rejected_with_a_clear_error(expression, complaint):
    with pytest.raises(InvalidScheduleError, match=complaint):
        validate_cron(expression)


# -- intervals ---------------------------------------------------------------------------------


def test_interval_without_a_grid_starts_one_interval_from_now_on_a_whole_second():
    every = Interval(datetime.timedelta(minutes=15))
    assert every.next_after(utc(2026, 1, 1, 12, 0, 0, 250000)) == utc(2026, 1, 1, 12, 15, 1)


def test_interval_keeps_its_grid_after_downtime():
    every = Interval(datetime.timedelta(minutes=15), anchor=utc(2026, 1, 1, 12, 0))
    assert every.next_after(utc(2026, 1, 1, 14, 7)) == utc(2026, 1, 1, 14, 15)
    assert every.next_after(utc(2026, 1, 1, 14, 15)) == utc(2026, 1, 1, 14, 30)


def test_interval_is_absolute_time_across_dst():
    every = Interval(datetime.timedelta(hours=1), anchor=utc(2026, 10, 25, 0, 0))
    assert take(every, utc(2026, 10, 25, 0, 0), 2) == [utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1d", 86400),
        ("1.5h", 5400),
        ("01:30:00", 5400),
        ("PT15M", 900),
        (45, 45),
        (datetime.timedelta(minutes=2), 120),
    ],
)
def test_intervals_parse_from_seconds_text_and_timedeltas(text, seconds):
    assert parse_interval(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["0", "0.5", "soon", "15x", -3, True, ""])
def test_invalid_or_sub_second_intervals_are_rejected(value):
    with pytest.raises(InvalidScheduleError):
        parse_interval(value)


def test_durations_format_compactly():
    assert format_duration(datetime.timedelta(seconds=5400)) == "1h30m"
    assert format_duration(datetime.timedelta(days=1, seconds=1)) == "1d1s"
    assert format_duration(datetime.timedelta(seconds=1)) == "1s"


# -- catch-up plans ------------------------------------------------------------------------------

HOURLY = Cron("0 * * * *", tz=UTC)


def plan_for(catch_up, due_since, now, grace=60, limit=100, recurrence=HOURLY):
    return plan(recurrence, due_since, now, catch_up, grace=grace, limit=limit)


@pytest.mark.parametrize("catch_up", CatchUp.values)
def test_an_occurrence_found_on_time_spawns_one_job_whatever_the_policy(catch_up):
    decided = plan_for(catch_up, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 12, 0, 1))
    assert decided.spawn == (utc(2026, 1, 1, 12),)
    assert not decided.missed
    assert decided.next_run_at == utc(2026, 1, 1, 13)


def test_nothing_is_spawned_before_the_time_comes():
    decided = plan_for(CatchUp.ALL, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 11, 59, 59))
    assert decided.spawn == ()
    assert decided.next_run_at == utc(2026, 1, 1, 12)


def test_skip_drops_occurrences_missed_during_downtime_and_runs_at_the_next():
    # Workers were down from before 12:00 until 15:30.
    decided = plan_for(CatchUp.SKIP, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 15, 30))
    assert decided.spawn == ()
    assert decided.missed
    assert decided.next_run_at == utc(2026, 1, 1, 16)


def test_skip_still_runs_an_occurrence_that_is_late_by_less_than_the_grace():
    decided = plan_for(CatchUp.SKIP, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 15, 0, 30))
    assert decided.spawn == (utc(2026, 1, 1, 15),)
    assert decided.missed  # 12:00, 13:00 and 14:00 were dropped


def test_once_runs_a_single_job_for_all_missed_occurrences():
    decided = plan_for(CatchUp.ONCE, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 15, 30))
    assert decided.spawn == (utc(2026, 1, 1, 15),)  # for the latest of them
    assert decided.missed
    assert decided.next_run_at == utc(2026, 1, 1, 16)


def test_all_runs_every_missed_occurrence():
    decided = plan_for(CatchUp.ALL, utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 15, 30))
    assert decided.spawn == tuple(utc(2026, 1, 1, h) for h in (12, 13, 14, 15))
    assert not decided.missed
    assert decided.next_run_at == utc(2026, 1, 1, 16)


def test_all_is_bounded_to_the_latest_occurrences():
    decided = plan_for(CatchUp.ALL, utc(2026, 1, 1, 0), now=utc(2026, 1, 1, 23, 30), limit=3)
    assert decided.spawn == tuple(utc(2026, 1, 1, h) for h in (21, 22, 23))
    assert decided.missed


def test_a_year_of_downtime_on_a_per_minute_schedule_plans_quickly():
    every_minute = Cron("* * * * *", tz=UTC)
    for catch_up in CatchUp.values:
        decided = plan_for(
            catch_up, utc(2025, 1, 1), now=utc(2026, 1, 1, 0, 0, 30), recurrence=every_minute
        )
        assert len(decided.spawn) <= 100
        assert decided.next_run_at == utc(2026, 1, 1, 0, 1)


def test_interval_catch_up_stays_on_the_grid():
    every = Interval(datetime.timedelta(minutes=10), anchor=utc(2026, 1, 1, 12, 0))
    decided = plan_for(
        CatchUp.ALL, utc(2026, 1, 1, 12, 0), now=utc(2026, 1, 1, 12, 35), recurrence=every
    )
    assert decided.spawn == tuple(utc(2026, 1, 1, 12, m) for m in (0, 10, 20, 30))
    assert decided.next_run_at == utc(2026, 1, 1, 12, 40)


def test_a_next_run_set_by_hand_runs_at_that_time_then_the_rule_takes_over():
    decided = plan_for(CatchUp.SKIP, utc(2026, 1, 1, 12, 17), now=utc(2026, 1, 1, 12, 17, 5))
    assert decided.spawn == (utc(2026, 1, 1, 12, 17),)
    assert decided.next_run_at == utc(2026, 1, 1, 13)


def test_naive_times_are_read_in_the_project_time_zone(settings):
    # With USE_TZ = False the database hands back naive local times.
    settings.TIME_ZONE = "Europe/London"
    decided = plan(
        Cron("0 3 * * *"),
        datetime.datetime(2026, 7, 1, 3, 0),
        datetime.datetime(2026, 7, 1, 3, 0, 5),
        CatchUp.SKIP,
        grace=60,
        limit=100,
    )
    assert decided.spawn == (utc(2026, 7, 1, 2, 0),)
    assert decided.next_run_at == utc(2026, 7, 2, 2, 0)


def test_an_unknown_catch_up_policy_is_rejected():
    with pytest.raises(InvalidScheduleError, match="catch_up"):
        plan_for("sometimes", utc(2026, 1, 1, 12), now=utc(2026, 1, 1, 12))
