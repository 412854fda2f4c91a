"""django-celery-beat's own admin stays registered for the system entries, but the rows of our schedules
(and the crontab/interval/clocked rows they use) are read-only there: editing them behind the services'
back would make Beat fire something the schedules do not say. Its list says which rows are ours ("managed
by MEGAHUB schedule #n", linked), so its "Periodic tasks" never pass for our schedule templates."""

from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule
from django_celery_beat.models import PeriodicTask as BeatEntry

from ..beat_names import FIRE_TASK, schedule_id_of


class _GuardOurRows:
    """Refuses edits and deletes of django-celery-beat rows that belong to (or are used by) our schedules."""

    def is_ours(self, obj) -> bool:
        raise NotImplementedError

    def ours_in(self, queryset):
        raise NotImplementedError

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and self.is_ours(obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and self.is_ours(obj))

    def others(self, request, queryset):
        ours = self.ours_in(queryset)
        if ours.exists():
            self.message_user(request, f"{ours.count()} row(s) used by megahub schedules left unchanged: manage "
                              "them under Task scheduling.", messages.WARNING)
        return queryset.exclude(pk__in=ours.values("pk"))

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, self.others(request, queryset))


class BeatEntryAdmin(_GuardOurRows, beat_admin.PeriodicTaskAdmin):
    list_display = ("name", "managed_by", *beat_admin.PeriodicTaskAdmin.list_display[1:])
    readonly_fields = (*beat_admin.PeriodicTaskAdmin.readonly_fields, "managed_by")

    def is_ours(self, obj):
        return obj.task == FIRE_TASK

    def ours_in(self, queryset):
        return queryset.filter(task=FIRE_TASK)

    @admin.display(description="managed by")
    def managed_by(self, obj):
        schedule_id = schedule_id_of(obj.name) if self.is_ours(obj) else None
        if schedule_id is not None:
            return format_html('<a href="{}">managed by MEGAHUB schedule #{}</a> (read-only here)',
                               reverse("admin:task_scheduling_schedule_change", args=[schedule_id]), schedule_id)
        if obj.name in settings.CELERY_BEAT_SCHEDULE:
            return "MEGAHUB system entry (CELERY_BEAT_SCHEDULE in settings)"
        return "-"

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and self.is_ours(obj):
            return [("MEGAHUB", {"fields": ["managed_by"],
                                 "description": "Change it through its schedule under Task scheduling."}),
                    *fieldsets]
        return fieldsets


def _sparing_ours(name: str):
    """django-celery-beat's bulk action `name`, applied to the selected rows that are not ours."""
    parent = getattr(beat_admin.PeriodicTaskAdmin, name)

    def action(self, request, queryset):
        return parent(self, request, self.others(request, queryset))

    action.__name__ = name
    return admin.action(description=getattr(parent, "short_description", name))(action)


for _name in beat_admin.PeriodicTaskAdmin.actions:
    setattr(BeatEntryAdmin, _name, _sparing_ours(_name))


def _timing_admin(base):
    class TimingAdmin(_GuardOurRows, base):
        def is_ours(self, obj):
            return obj.periodictask_set.filter(task=FIRE_TASK).exists()

        def ours_in(self, queryset):
            return queryset.filter(periodictask__task=FIRE_TASK).distinct()

    TimingAdmin.__name__ = f"Guarded{base.__name__}"
    return TimingAdmin


for _model, _admin in ((BeatEntry, BeatEntryAdmin),
                       (CrontabSchedule, _timing_admin(beat_admin.CrontabScheduleAdmin)),
                       (IntervalSchedule, _timing_admin(beat_admin.IntervalScheduleAdmin)),
                       (ClockedSchedule, _timing_admin(beat_admin.ClockedScheduleAdmin))):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)
