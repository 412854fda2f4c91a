"""The selectors on the real database: execution statistics, the summary, next runs, readiness,
calendar lookups and previews, cron validation, orphans."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from megahub.api.exceptions import ApplicationError
from task_core.models import BaseTask
from task_scheduling.models import Schedule, ScheduledRun
from task_scheduling.selectors.calendars import calendar_of_brand, calendar_preview
from task_scheduling.selectors.cron import cron_validate
from task_scheduling.selectors.executions import executions_queryset, executions_stats
from task_scheduling.selectors.orphans import orphans_find
from task_scheduling.selectors.schedules import ready_for_execution
from task_scheduling.selectors.summary import summary
from task_scheduling.selectors.templates import next_run_of_template, template_executions_lookup, template_queryset
from task_scheduling.services import calendars, schedules

from .helpers import run_of

pytestmark = pytest.mark.django_db


def run(template, brand, status, seconds, hours_ago=0):
    now = timezone.now()
    task = BaseTask.objects.create(brand=brand, task_type="demo.echo", status=status, origin="schedule",
                                   started_at=now, completed_at=now + timedelta(seconds=seconds))
    return run_of(brand=brand, periodic_task=template, task=task, outcome="fired",
                  due_at=now - timedelta(hours=hours_ago))


def test_execution_stats_count_completed_against_failed_and_average_the_completed(make_template, brand):
    template = make_template()
    run(template, brand, "completed", 2, hours_ago=1)
    run(template, brand, "completed", 4, hours_ago=2)
    run(template, brand, "failed", 100, hours_ago=3)
    run(template, brand, "running", 0)
    stats = executions_stats(template=template, runs=executions_queryset(template=template))
    assert (stats["total_runs"], stats["finished_runs"], stats["successful_runs"], stats["failed_runs"]) == (4, 3, 2, 1)
    assert stats["success_rate"] == pytest.approx(0.6667) and stats["average_duration_ms"] == 3000
    assert stats["next_run_at"] == template.schedules.get().next_run_at


def test_next_run_of_a_template_is_its_earliest_active_schedules(make_template):
    template = make_template()
    extra = schedules.schedule_create(template=template)
    first = template.schedules.exclude(pk=extra.pk).get()
    soon = timezone.now() + timedelta(minutes=1)
    Schedule.objects.filter(pk=extra.pk).update(next_run_at=soon)
    assert next_run_of_template(template=template) == soon
    assert template_queryset(brand=template.brand).get().next_run == soon
    schedules.schedule_pause(schedule=extra)
    assert next_run_of_template(template=template) == Schedule.objects.get(pk=first.pk).next_run_at


def test_ready_for_execution_is_due_active_schedules_of_active_templates(make_template, brand):
    due, later = make_template().schedules.get(), make_template().schedules.get()
    Schedule.objects.filter(pk=due.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    assert [s.pk for s in ready_for_execution(brand=brand)] == [due.pk]
    assert later.pk not in [s.pk for s in ready_for_execution(brand=brand)]


def test_summary_counts_by_status_and_the_last_24_hours(make_template, brand):
    template = make_template()
    schedules.schedule_pause(schedule=make_template().schedules.get())
    run(template, brand, "completed", 1)
    run(template, brand, "failed", 1, hours_ago=30)  # older than 24 h: not counted
    ScheduledRun.objects.create(brand=brand, periodic_task=template, due_at=timezone.now(), outcome="missed")
    data = summary(brand=brand)
    assert data["schedules_by_status"] == {"active": 1, "paused": 1, "inactive": 0, "error": 0}
    assert data["runs_24h"]["total"] == 1 and data["runs_24h"]["completed"] == 1 and data["runs_24h"]["failed"] == 0
    assert data["runs_24h"]["not_run"] == 1 and data["runs_24h"]["outcomes"]["missed"] == 1
    assert data["next_fire"]["periodic_task_id"] == template.pk


def test_a_calendar_of_another_brand_is_a_404_naming_the_field(brand, other_brand):
    theirs = calendars.calendar_create(brand=other_brand, name="theirs")
    with pytest.raises(ApplicationError) as err:
        calendar_of_brand(brand=brand, calendar_id=theirs.pk)
    assert err.value.status_code == 404 and "calendar" in err.value.field_errors
    assert calendar_of_brand(brand=other_brand, calendar_id=theirs.pk) == theirs


def test_calendar_preview_marks_the_runs_it_removes(make_template, brand):
    weekends = calendars.calendar_create(brand=brand, name="weekends", blackout_windows=[
        {"days": [5, 6], "start": "00:00", "end": "00:00"}])
    make_template(kind="cron", cron_expression="0 12 * * *", interval_seconds=None, calendar=weekends)
    (preview,) = calendar_preview(calendar=weekends, count=7)
    assert len(preview["runs"]) == 7 and preview["removed"] == 2


def test_cron_validate_explains_dst_and_refuses_what_never_runs():
    result = cron_validate(expression="30 2 * * *", tz="Europe/Paris", count=2,
                           after=datetime(2025, 3, 29, 12, tzinfo=UTC))
    assert result["valid"] and result["normalized"] == "30 2 * * *" and result["description"]
    assert result["next_runs"][0]["dst"] == "gap" and "DST gap" in result["warnings"][0]
    never = cron_validate(expression="0 0 30 2 *", tz="UTC", count=1)
    assert never["valid"] is False and "never matches" in never["error"] and never["next_runs"] == []
    with pytest.raises(ApplicationError) as err:
        cron_validate(expression="@daily", tz="Mars/Olympus", count=1)
    assert "timezone" in err.value.field_errors


def test_orphans_are_rows_and_schedules_whose_owner_is_gone(make_template, brand, other_brand):
    kept, unlinked = make_template().schedules.get(), make_template().schedules.get()
    Schedule.objects.filter(pk=unlinked.pk).update(periodic_task=None)
    BeatEntry.objects.create(name="megahub-schedule-999999", task="task_scheduling.fire",
                             kwargs=f'{{"schedule_id": 999999, "brand_id": {brand.pk}}}',
                             interval=BeatEntry.objects.get(name=kept.beat_name).interval)
    found = orphans_find(brand=brand)
    assert {(e["schedule_id"], e["reason"]) for e in found["beat_entries"]} == {
        (999999, "schedule is gone"), (unlinked.pk, "template is gone")}
    assert [s["id"] for s in found["schedules"]] == [unlinked.pk]
    assert orphans_find(brand=other_brand) == {"beat_entries": [], "schedules": []}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement is PostgreSQL's")
def test_execution_stats_in_one_statement_equal_the_orm_reading(make_template, brand, django_assert_num_queries):
    """PostgreSQL reads the statistics in one statement (runs grouped by status, p95 by percentile_disc);
    the ORM's reading (any database) gives the same figures, for every status and outcome, over the newest
    STATS_RUNS only, with a status filter, and with nothing to read."""
    from task_core.choices import TaskStatus
    from task_scheduling.querysets import run_outcome_in, run_task_status_in
    from task_scheduling.selectors import executions

    template = make_template()
    statuses = ["completed"] * 23 + ["failed", "failed", "cancelled", "running", "pending", "interrupted"]
    for i, status in enumerate(statuses):  # durations 1..23 s for the completed ones, out of order
        run(template, brand, status, seconds=(i * 7) % 23 + 1, hours_ago=i + 1)
    for i, outcome in enumerate(["skipped_overlap", "skipped_overlap", "missed", "error"]):
        run_of(brand=brand, periodic_task=template, outcome=outcome,
               due_at=timezone.now() - timedelta(minutes=30 + i))
    runs = executions_queryset(template=template)
    cases = [runs, runs.filter(run_task_status_in([TaskStatus.COMPLETED])), runs.filter(pk__lt=0),
             runs.filter(run_task_status_in([TaskStatus.RUNNING, TaskStatus.FAILED])
                         | run_outcome_in(["skipped_overlap"]))]
    for limit in (1000, 10):
        for case in cases:
            *sql, counted = executions._stats_sql(case, limit, count_up_to=3)
            assert tuple(sql) == executions._stats_orm(executions.newest_runs(case, limit)), (limit, case.query)
            assert counted == min(case.count(), 4)
    by_status, avg, p95, last = executions._stats_orm(runs)
    assert by_status["completed"] == 23 and by_status["skipped_overlap"] == 2 and by_status["error"] == 1
    assert p95 == timedelta(seconds=22) and avg == timedelta(seconds=12)  # nearest rank: the 22nd of 23
    looked_up = template_executions_lookup(brand=brand).get()
    with django_assert_num_queries(1):  # the template carries its next run (template_executions_lookup)
        stats = executions.executions_stats(runs=runs, template=looked_up)
    assert stats["next_run_at"] == next_run_of_template(template=template) and stats["total_runs"] == 33
