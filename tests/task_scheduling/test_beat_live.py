"""Integration with real `celery beat` (our scheduler on the database) and a real worker."""

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from task_core.models import BaseTask
from task_scheduling.models import ScheduledRun, ScheduleEvent, ScheduleTemplate
from task_scheduling.services import calendars

from ..live import LiveBeat, child_env, wait_for

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
P = "/tasks/scheduled/periodic-tasks/"


@pytest.fixture
def beat():
    started = []

    def start(name=None):
        b = LiveBeat(name=name, extra_args=["--max-interval", "1"]).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def runs(template_id, **filters):
    return ScheduledRun.objects.filter(periodic_task_id=template_id, **filters)


def test_interval_schedule_fires_pauses_and_resumes(live_worker, beat, operator_api):
    b = beat()
    resp = operator_api.post(P, {"name": "every2s", "task_type": "demo.echo", "parameters": {"message": "tick"},
                                 "kind": "interval", "interval_seconds": 2}, format="json")
    assert resp.status_code == 201
    pk = resp.json()["id"]
    wait_for(lambda: runs(pk, task__status="completed").count() >= 2, timeout=30, message=f"2 runs\n{b.log()[-2000:]}")
    data = operator_api.get(f"{P}{pk}/executions/?status=completed").json()
    assert data["count"] >= 2 and data["stats"]["success_rate"] == 1.0
    assert all(r["task"]["status"] == "completed" for r in data["results"])

    schedule_id = ScheduleTemplate.objects.get(pk=pk).schedules.get().pk
    mark = len(b.log())
    assert operator_api.post(f"{P}{pk}/pause/").status_code == 200
    wait_for(lambda: not BaseTask.objects.filter(scheduled_run__periodic_task_id=pk).unfinished().exists(),
             timeout=20, message="runs in flight to finish")
    paused_count = runs(pk).count()
    # Beat itself takes the schedule out (not only the dispatcher refusing it): it reloads after the pause...
    reload = wait_for(lambda: re.search(r"Scheduling: 0 active schedules (loaded|refreshed)", b.log()[mark:]),
                      timeout=15, message="Beat reload after the pause")
    after_reload = mark + reload.end()
    # ... and several intervals pass while paused (each Beat tick is at most 1 s).
    deadline = timezone.now() + timedelta(seconds=5)
    wait_for(lambda: timezone.now() >= deadline, timeout=10)
    assert runs(pk).count() == paused_count
    assert not re.search(rf"(?<![0-9]){schedule_id}@", b.log()[after_reload:]), "Beat sent the paused schedule"

    assert operator_api.post(f"{P}{pk}/resume/").status_code == 200
    wait_for(lambda: runs(pk, task__status="completed").count() >= paused_count + 1, timeout=30,
             message="a run after resume")
    # Nothing that fell due while paused was fired: every run after resume is due after the resume.
    template = ScheduleTemplate.objects.get(pk=pk)
    resumed_at = template.schedules.get().events.filter(to_status="active").latest("id").created_at
    assert not runs(pk).filter(due_at__gt=deadline - timedelta(seconds=5), due_at__lt=resumed_at).exists()


def sent_by(beat_process, schedule_id) -> set[str]:
    """The due times (ISO) this Beat process logged sending for the schedule."""
    found = re.findall(rf"(?<![0-9]){schedule_id}@(\S+)", beat_process.log())
    return set(found)


def test_two_beats_at_once_give_no_duplicate(live_worker, beat, make_template):
    template = make_template(interval_seconds=1, name="dual", overlap_policy="allow", queue="")
    schedule = template.schedules.get()
    a, b = beat(f"beat-a-{uuid.uuid4().hex[:6]}"), beat(f"beat-b-{uuid.uuid4().hex[:6]}")
    wait_for(lambda: len(sent_by(a, schedule.pk) & sent_by(b, schedule.pk)) >= 4, timeout=40,
             message=f"both Beats sending the same due times\n{a.log()[-1500:]}\n{b.log()[-1500:]}")
    a.stop()
    b.stop()
    from_a, from_b = sent_by(a, schedule.pk), sent_by(b, schedule.pk)
    sent = {parse_datetime(d) for d in from_a | from_b}
    wait_for(lambda: set(runs(template.pk).values_list("due_at", flat=True)) >= sent, timeout=30,
             message="every due time sent to be handled")
    # Both Beats sent overlapping due times; each distinct due time became exactly one task.
    assert len(from_a & from_b) >= 4
    assert BaseTask.objects.filter(scheduled_run__periodic_task=template).count() == len(sent)
    assert runs(template.pk, outcome="fired").count() == len(sent)
    assert all((d - schedule.anchor_at).total_seconds() % 1 == 0 for d in sent)


def test_a_restarted_beat_fires_on_without_duplicates_or_silent_gaps(live_worker, beat, make_template):
    template = make_template(interval_seconds=1, name="restart", overlap_policy="allow", queue="")
    schedule = template.schedules.get()
    first = beat()
    wait_for(lambda: runs(template.pk).count() >= 3, timeout=30, message=f"runs\n{first.log()[-1500:]}")
    first.stop()
    before = runs(template.pk).count()
    second = beat()
    wait_for(lambda: runs(template.pk).count() >= before + 3, timeout=30, message=f"runs\n{second.log()[-1500:]}")
    second.stop()
    time.sleep(2)  # the last batches are handled
    dues = sorted(runs(template.pk).values_list("due_at", flat=True))
    tasks = BaseTask.objects.filter(scheduled_run__periodic_task=template)
    assert tasks.count() == runs(template.pk, outcome="fired").count() == len(dues) == len(set(dues))
    # Every second of the grid between the first and the last run is a run or a recorded collapse.
    collapsed = sum(int(e.detail.split(" ", 1)[0]) for e in ScheduleEvent.objects.filter(
        schedule=schedule, event_type="missed"))
    grid = int((dues[-1] - dues[0]).total_seconds()) + 1
    assert len(dues) + collapsed >= grid


def test_overlap_skip_while_a_run_is_still_going(live_worker, beat, make_template):
    template = make_template(interval_seconds=1, name="slow", task_type="demo.sleep", queue="",
                             parameters={"seconds": 4, "steps": 4})
    beat()
    wait_for(lambda: runs(template.pk, outcome="skipped_overlap").count() >= 2, timeout=40,
             message="skips while the first run sleeps")
    first = runs(template.pk, outcome="fired").order_by("due_at").first()
    skipped = runs(template.pk, outcome="skipped_overlap").order_by("due_at").first()
    assert skipped.due_at > first.due_at
    assert ScheduleEvent.objects.filter(schedule=template.schedules.get(), event_type="skipped_overlap").exists()
    # Never two unfinished runs of the schedule at once: each fired run started after the previous ended.
    fired = [r.task for r in runs(template.pk, outcome="fired").select_related("task").order_by("due_at")]
    for previous, current in zip(fired, fired[1:], strict=False):
        assert previous.completed_at is not None and current.created_at >= previous.completed_at


def test_calendar_exclusion_skips_and_records(live_worker, beat, make_template, brand):
    today = timezone.now().date()
    cal = calendars.calendar_create(brand=brand, name="holiday", excluded_dates=[
        (today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)])
    template = make_template(interval_seconds=1, name="blocked", calendar=cal, queue="")
    beat()
    wait_for(lambda: runs(template.pk, outcome="skipped_calendar").count() >= 2, timeout=30,
             message="calendar skips")
    assert not BaseTask.objects.filter(scheduled_run__periodic_task=template).exists()
    events = ScheduleEvent.objects.filter(schedule=template.schedules.get(), event_type="skipped_calendar")
    assert events.exists() and "excluded date" in events.first().detail


def test_beat_health_passes_while_beat_ticks_and_fails_once_it_stopped(tmp_path, settings):
    from django.core.management import CommandError, call_command

    heartbeat = tmp_path / "beat-heartbeat"
    settings.SCHEDULING_BEAT_HEARTBEAT = str(heartbeat)
    with pytest.raises(CommandError, match="has not completed a tick"):
        call_command("beat_health")

    b = LiveBeat(env=child_env(SCHEDULING_BEAT_HEARTBEAT=heartbeat), extra_args=["--max-interval", "1"]).start()
    try:
        wait_for(heartbeat.exists, timeout=30, message=f"Beat's first tick\n{b.log()[-2000:]}")
        first = heartbeat.stat().st_mtime
        wait_for(lambda: heartbeat.stat().st_mtime > first, timeout=10, message="a later tick")
        call_command("beat_health", "--max-age", "30")
    finally:
        b.stop()
    stopped_at = time.time()
    wait_for(lambda: time.time() - stopped_at > 2.5, timeout=5)
    with pytest.raises(CommandError, match="last completed tick was"):
        call_command("beat_health", "--max-age", "2")
