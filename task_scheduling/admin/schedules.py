"""Admin of schedules, with their lifecycle events inline."""

from django import forms
from django.contrib import admin, messages

from megahub.api.exceptions import ApplicationError
from task_core.admin import HistoryInline, operator_split, run_admin_action
from task_core.display import task_link, when, when_relative

from ..choices import ScheduleStatus
from ..models import Schedule, ScheduleEvent
from ..services import schedules, templates
from ..validators import overrides_validate
from .base import ServiceSavedAdmin, form_errors


class ScheduleEventInline(HistoryInline):
    model = ScheduleEvent
    fields = ["at", "event_type", "from_status", "to_status", "due", "task", "detail_links", "actor_name"]
    readonly_fields = fields
    ordering = ["-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("schedule__periodic_task")

    @admin.display(description="due at (template time zone)")
    def due(self, obj):
        return when(obj.due_at, _zone(obj.schedule))

    @admin.display(description="task")
    def task(self, obj):
        return task_link(obj.task_id)


def _zone(schedule) -> str:
    return schedule.periodic_task.timezone if schedule.periodic_task else "UTC"


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["label", "parameter_overrides"]

    def clean(self):
        cleaned = super().clean()
        template = self.instance.periodic_task
        if not self.errors and template is not None:
            try:
                overrides_validate(template=template,
                                                     overrides=cleaned.get("parameter_overrides") or {})
            except ApplicationError as exc:
                form_errors(self, exc)
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(ServiceSavedAdmin):
    form = ScheduleForm
    list_display = ["id", "periodic_task", "brand", "status", "next_run_local", "last_run_local", "run_count",
                    "failure_count", "skip_count"]
    list_filter = ["brand", "status"]
    list_select_related = ["periodic_task", "brand"]
    readonly_fields = ["periodic_task", "brand", "status", "snapshot", "beat_name", "anchor_at", "next_run_local",
                       "last_run_local", "run_count", "success_count", "failure_count", "skip_count",
                       "consecutive_failures", "error_message", "created_at"]
    inlines = [ScheduleEventInline]
    actions = ["pause", "resume", "run_now"]

    def has_add_permission(self, request):
        return False  # schedules are registered from a template (API or the template's admin)

    class Media:
        css = {"all": ["task_core/admin.css"]}

    @admin.display(description="next run (template time zone)", ordering="next_run_at")
    def next_run_local(self, obj):
        return when_relative(obj.next_run_at, _zone(obj))

    @admin.display(description="last run (template time zone)", ordering="last_run_at")
    def last_run_local(self, obj):
        return when_relative(obj.last_run_at, _zone(obj))

    def save_with_service(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f in ("label", "parameter_overrides")}
        if fields:
            schedules.schedule_update(schedule=Schedule.objects.get(pk=obj.pk), actor=request.user, **fields)

    def delete_model(self, request, obj):
        schedules.schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            schedules.schedule_delete(schedule=obj)

    def _bulk(self, request, queryset, label, func):
        ok, refused = operator_split(request, list(queryset.select_related("periodic_task")))
        n = func(schedules=ok, actor=request.user)
        self.message_user(request, f"{label}: {n} schedule(s).", messages.SUCCESS)
        if refused or n < len(ok):
            left = len(ok) - n
            self.message_user(request, "; ".join(refused + ([f"{left} not in a state that allows it"] if left else [])),
                              messages.WARNING)

    @admin.action(description="Pause (operator)")
    def pause(self, request, queryset):
        self._bulk(request, queryset, "Paused", schedules.schedules_pause_many)

    @admin.action(description="Resume (operator)")
    def resume(self, request, queryset):
        self._bulk(request, queryset, "Resumed", schedules.schedules_resume_many)

    @admin.action(description="Run now (its template, operator)")
    def run_now(self, request, queryset):
        of_schedules = {s.periodic_task for s in queryset.select_related("periodic_task")
                        if s.periodic_task and s.status != ScheduleStatus.INACTIVE}
        run_admin_action(self, request, sorted(of_schedules, key=lambda t: t.pk), "Run now",
             lambda t: templates.template_run_now(template=t, actor=request.user))
