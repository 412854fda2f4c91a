"""Schedule events: the cap of SCHEDULING_EVENTS_KEPT holds on every path."""

import pytest

from task_scheduling.models import ScheduleEvent
from task_scheduling.services import schedules, templates

pytestmark = pytest.mark.django_db


def test_event_cap_holds_for_status_changes_and_edits(make_template, settings):
    settings.SCHEDULING_EVENTS_KEPT = 4
    template = make_template()
    schedule = template.schedules.get()
    for _ in range(3):
        schedules.schedule_pause(schedule=schedule)
        schedules.schedule_resume(schedule=schedule)
    events = ScheduleEvent.objects.filter(schedule=schedule)
    assert events.count() == 4 and not events.filter(event_type="registered").exists()
    for i in range(3):
        templates.template_update(template=template, description=f"edit {i}")
    assert list(events.order_by("id").values_list("event_type", flat=True)) == [
        "status_changed", "updated", "updated", "updated"]
