"""Admin of schedules, with their lifecycle events inline."""

from django import forms
from django.contrib import admin, messages

from megahub.api.exceptions import ApplicationError
from task_core.admin import HistoryInline, operator_split, run_admin_action

from ..choices import ScheduleStatus
from ..models import Schedule, ScheduleEvent
from ..services import schedules, templates
from ..timing import local_iso
from ..validators import overrides_validate
from .base import ServiceSavedAdmin, form_errors


class ScheduleEventInline(HistoryInline):
    model = ScheduleEvent
    fields = ["created_at", "event_type", "from_status", "to_status", "due_at", "task_id", "detail", "actor"]
    readonly_fields = fields
    ordering = ["-id"]


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
    list_display = ["id", "periodic_task", "brand", "status", "next_run_local", "last_run_at", "run_count",
                    "failure_count", "skip_count"]
    list_filter = ["brand", "status"]
    list_select_related = ["periodic_task", "brand"]
    readonly_fields = ["periodic_task", "brand", "status", "snapshot", "beat_name", "anchor_at", "next_run_local",
                       "last_run_at", "run_count", "success_count", "failure_count", "skip_count",
                       "consecutive_failures", "error_message", "created_at"]
    inlines = [ScheduleEventInline]
    actions = ["pause", "resume", "run_now"]

    def has_add_permission(self, request):
        return False  # schedules are registered from a template (API or the template's admin)

    @admin.display(description="next run (template timezone)")
    def next_run_local(self, obj):
        tz = obj.periodic_task.timezone if obj.periodic_task else "UTC"
        return local_iso(obj.next_run_at, tz) or "-"

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
