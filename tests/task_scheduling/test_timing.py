"""Pure tests of next-run computation (DST in two timezones) and calendars."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from task_scheduling.timing import (
    CalendarRules,
    CronError,
    Timing,
    count_between,
    dst_note,
    normalize_cron,
    on_grid,
    prev_fire,
    upcoming,
    wall_times_at,
)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_spring_forward_gap_in_paris_runs_when_the_clocks_jump():
    t = Timing(kind="cron", cron="30 2 * * *", tz="Europe/Paris")
    runs = upcoming(t, after=utc(2025, 3, 28), count=4)
    # 02:30 CET = 01:30 UTC; on 30 March 02:30 does not exist: it runs at 03:00 CEST = 01:00 UTC.
    assert runs == [utc(2025, 3, 28, 1, 30), utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    assert dst_note(t, runs[2]) == "gap"
    assert dst_note(t, runs[1]) is None


def test_several_times_inside_one_gap_collapse_into_one_run():
    t = Timing(kind="cron", cron="*/20 2 * * *", tz="Europe/Paris")
    runs = upcoming(t, after=utc(2025, 3, 29, 23), count=2)
    assert runs == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 0)]


def test_fall_back_repeat_in_new_york_runs_once_at_the_first_occurrence():
    t = Timing(kind="cron", cron="30 1 * * *", tz="America/New_York")
    runs = upcoming(t, after=utc(2025, 11, 1), count=3)
    # 01:30 EDT = 05:30 UTC; on 2 Nov 01:30 happens twice (EDT then EST): once, at 05:30 UTC.
    assert runs == [utc(2025, 11, 1, 5, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]
    assert dst_note(t, runs[1]) == "repeat"


def test_hourly_cron_skips_the_repeated_hour_second_pass():
    t = Timing(kind="cron", cron="0 * * * *", tz="America/New_York")
    runs = upcoming(t, after=utc(2025, 11, 2, 4, 30), count=3)
    # 01:00 EDT (05:00 UTC) runs; 01:00 EST (06:00 UTC) is the repeat and does not; then 02:00 EST.
    assert runs == [utc(2025, 11, 2, 5), utc(2025, 11, 2, 7), utc(2025, 11, 2, 8)]


def test_prev_fire_agrees_with_next_fire_across_dst():
    for tz in ("Europe/Paris", "America/New_York", "Australia/Sydney"):
        t = Timing(kind="cron", cron="*/30 * * * *", tz=tz)
        runs = upcoming(t, after=utc(2025, 3, 29), count=400)
        for previous, current in zip(runs, runs[1:], strict=False):
            assert prev_fire(t, current) == current
            assert prev_fire(t, current.replace(second=1) if current.second == 0 else current) == current
            assert previous < current


@pytest.mark.parametrize("tz,day", [("Europe/Paris", utc(2025, 10, 25, 22)), ("America/New_York", utc(2025, 11, 2, 3)),
                                    ("Europe/Paris", utc(2025, 3, 29, 23)), ("America/New_York", utc(2025, 3, 9, 5))])
def test_prev_fire_is_the_latest_run_at_every_moment_around_a_dst_change(tz, day):
    """Beat's catch-up asks "what was the latest due time?" at any moment, the repeated hour's second
    pass included (there the first pass's later wall times are already past)."""
    from datetime import timedelta

    t = Timing(kind="cron", cron="*/15 * * * *", tz=tz)
    runs = upcoming(t, after=day - timedelta(hours=1), count=40)
    moment = day
    while moment < runs[-1]:
        expected = max(r for r in runs if r <= moment)
        assert prev_fire(t, moment) == expected, moment
        moment += timedelta(minutes=5, seconds=7)


def test_interval_is_anchored_not_drifting():
    t = Timing(kind="interval", every=90, anchor=utc(2025, 1, 1, 0, 0, 0))
    assert upcoming(t, after=utc(2025, 1, 1, 0, 2, 59), count=2) == [utc(2025, 1, 1, 0, 3), utc(2025, 1, 1, 0, 4, 30)]
    assert prev_fire(t, utc(2025, 1, 1, 0, 4, 29)) == utc(2025, 1, 1, 0, 3)


@pytest.mark.parametrize("expr,reason", [
    ("61 * * * *", "Invalid cron expression"), ("* * * *", "Expected 5 fields"),
    ("* * * * * *", "Expected 5 fields"), ("@sometimes", "Unknown alias"), ("", "empty"),
])
def test_invalid_cron_gives_the_reason(expr, reason):
    with pytest.raises(CronError, match=reason):
        normalize_cron(expr)


def test_aliases_expand():
    assert normalize_cron("@daily") == "0 0 * * *"
    assert normalize_cron("@hourly") == "0 * * * *"


def test_no_fire_time_past_the_calendar_is_none_not_an_error():
    leap_day = Timing(kind="cron", cron="0 0 29 2 *", tz="America/New_York")
    assert upcoming(leap_day, after=utc(9996, 3, 1), count=3) == []  # 9996-02-29 is past; none before 10000
    assert wall_times_at(leap_day, utc(9999, 12, 31), after=utc(9999, 1, 1)) == []


def test_a_window_ending_where_it_starts_covers_whole_days():
    weekend = CalendarRules.from_values("UTC", [], [{"days": [5, 6], "start": "00:00", "end": "00:00"}])
    assert weekend.exclusion(utc(2025, 12, 5, 23, 59, 59)) is None  # Friday
    assert weekend.exclusion(utc(2025, 12, 6, 0, 0)) is not None  # Saturday 00:00
    assert weekend.exclusion(utc(2025, 12, 7, 23, 59, 59)) is not None  # Sunday, last second
    assert weekend.exclusion(utc(2025, 12, 8, 0, 0)) is None  # Monday


def test_calendar_excluded_dates_and_windows_in_its_own_timezone():
    cal = CalendarRules.from_values("Europe/Paris", ["2025-12-25"],
                                    [{"days": [5, 6], "start": "00:00", "end": "23:59"},
                                     {"days": [0], "start": "22:00", "end": "02:00"}])
    assert cal.exclusion(utc(2025, 12, 25, 10)) == "2025-12-25 is an excluded date"
    assert cal.exclusion(utc(2025, 12, 24, 23, 30)) is not None  # 00:30 on the 25th in Paris
    assert cal.exclusion(utc(2025, 12, 24, 22, 30)) is None  # 23:30 on the 24th in Paris (a Wednesday)
    assert cal.exclusion(utc(2025, 12, 20, 12)) is not None  # Saturday
    assert cal.exclusion(utc(2025, 12, 22, 21, 30)) is not None  # Monday 22:30 Paris
    assert cal.exclusion(utc(2025, 12, 23, 0, 30)) is not None  # Tuesday 01:30 Paris, window crosses midnight
    assert cal.exclusion(utc(2025, 12, 23, 1, 30)) is None  # Tuesday 02:30 Paris


def test_spring_forward_gap_in_new_york():
    t = Timing(kind="cron", cron="30 2 * * *", tz="America/New_York")
    runs = upcoming(t, after=utc(2025, 3, 8), count=3)
    # 02:30 EST = 07:30 UTC; on 9 March 02:30 does not exist: it runs at 03:00 EDT = 07:00 UTC.
    assert runs == [utc(2025, 3, 8, 7, 30), utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30)]
    assert dst_note(t, runs[1]) == "gap" and on_grid(t, runs[1])


def test_fall_back_repeat_in_paris_runs_once_at_the_first_occurrence():
    t = Timing(kind="cron", cron="30 2 * * *", tz="Europe/Paris")
    runs = upcoming(t, after=utc(2025, 10, 25), count=3)
    # On 26 October 02:30 happens in CEST (00:30 UTC) and again in CET (01:30 UTC): once, at 00:30 UTC.
    assert runs == [utc(2025, 10, 25, 0, 30), utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    assert dst_note(t, runs[1]) == "repeat"
    assert not on_grid(t, utc(2025, 10, 26, 1, 30))  # the second pass is not a due time


def test_interval_across_dst_stays_absolute():
    t = Timing(kind="interval", every=3600, anchor=utc(2025, 3, 29, 23, 0))
    runs = upcoming(t, after=utc(2025, 3, 29, 23, 30), count=4)
    assert [(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)] == [3600, 3600, 3600]
    paris = [r.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") for r in runs]
    assert paris == ["01:00", "03:00", "04:00", "05:00"]  # the local clock skips 02:00, the interval does not


def test_gap_times_and_the_next_real_time_collapse_into_one_run():
    t = Timing(kind="cron", cron="0,30 2,3 * * *", tz="Europe/Paris")
    runs = upcoming(t, after=utc(2025, 3, 29, 23), count=2)
    assert runs == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]
    walls = wall_times_at(t, runs[0], utc(2025, 3, 29, 23))
    assert [w.strftime("%H:%M") for w in walls] == ["02:00", "02:30", "03:00"]
    assert [w.strftime("%H:%M") for w in wall_times_at(t, runs[1], runs[0])] == ["03:30"]


def test_on_grid_and_count_between():
    cron = Timing(kind="cron", cron="*/15 * * * *", tz="Europe/Paris")
    assert on_grid(cron, utc(2025, 1, 1, 10, 45)) and not on_grid(cron, utc(2025, 1, 1, 10, 46))
    assert count_between(cron, utc(2025, 1, 1, 10), utc(2025, 1, 1, 11)) == 3
    assert count_between(cron, utc(2025, 1, 1), utc(2025, 1, 2), cap=20) == 20
    interval = Timing(kind="interval", every=60, anchor=utc(2025, 1, 1))
    assert count_between(interval, utc(2025, 1, 1), utc(2025, 1, 1, 0, 10)) == 9
    assert count_between(interval, utc(2025, 1, 1), utc(2025, 1, 1, 0, 10, 1)) == 10
    assert not on_grid(interval, utc(2025, 1, 1, 0, 0, 30)) and on_grid(interval, utc(2025, 1, 1, 0, 5))


def test_a_cron_that_never_matches_is_invalid():
    with pytest.raises(CronError, match="never matches"):
        normalize_cron("0 0 30 2 *")
