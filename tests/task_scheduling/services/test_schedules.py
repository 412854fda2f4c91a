"""Schedule services on the real database: Beat rows follow deletions (bulk and cascade included), bulk
resume skips what cannot resume."""


import pytest
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import Brand
from task_scheduling.models import Schedule
from task_scheduling.services import schedules, templates

pytestmark = pytest.mark.django_db


def test_brand_deletion_takes_the_beat_rows_with_it(make_template, other_brand):
    doomed = Brand.objects.create(name="Doomed", slug="doomed")
    template = make_template(brand=doomed)
    kept = make_template(brand=other_brand)
    name = template.schedules.get().beat_name
    doomed.delete()
    assert not BeatEntry.objects.filter(name=name).exists()
    assert BeatEntry.objects.filter(name=kept.schedules.get().beat_name).exists()


def test_a_queryset_delete_of_schedules_removes_their_beat_rows(make_template):
    template = make_template()
    schedules.schedule_create_many(template=template, count=3)
    names = list(template.schedules.values_list("beat_name", flat=True))
    Schedule.objects.filter(periodic_task=template).delete()
    assert not BeatEntry.objects.filter(name__in=names).exists()


def test_bulk_resume_skips_what_cannot_resume(make_template):
    template = make_template()
    extra = schedules.schedule_create(template=template)
    both = list(template.schedules.select_related("periodic_task"))
    assert schedules.schedules_pause_many(schedules=both) == 2
    templates.template_pause(template=template)
    assert schedules.schedules_resume_many(schedules=list(template.schedules.select_related("periodic_task"))) == 0
    templates.template_resume(template=template)
    extra.refresh_from_db()
    assert extra.status == "active" and BeatEntry.objects.get(name=extra.beat_name).enabled
