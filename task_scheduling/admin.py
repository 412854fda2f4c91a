"""Staff admin for templates, schedules (with their events) and calendars. Writes go through the services
so the Beat rows stay in sync; the next run is shown in the template's timezone."""

from django.contrib import admin, messages

from megahub.api.exceptions import ApplicationError
from task_core.admin import BrandScopedAdmin

from . import services
from .api.serializers import local_iso
from .models import PeriodicTask, Schedule, ScheduleEvent, ScheduleStatus, TaskCalendar


def _run(request, label, func, objects):
    done, failed = 0, []
    for obj in objects:
        try:
            func(obj)
            done += 1
        except ApplicationError as exc:
            failed.append(f"{obj}: {exc.detail}")
    if done:
        messages.success(request, f"{label}: {done} done.")
    for msg in failed:
        messages.warning(request, msg)


@admin.register(TaskCalendar)
class TaskCalendarAdmin(BrandScopedAdmin):
    list_display = ["name", "brand", "timezone", "created_at"]
    list_filter = ["brand"]
    search_fields = ["name"]


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BrandScopedAdmin):
    list_display = ["name", "brand", "task_type", "kind", "cron_expression", "interval_seconds", "timezone",
                    "is_active", "next_run_local"]
    list_filter = ["brand", "kind", "is_active", "overlap_policy"]
    search_fields = ["name", "task_type"]
    readonly_fields = ["next_run_local", "created_at", "updated_at"]
    actions = ["pause", "resume", "run_now"]

    @admin.display(description="next run (template timezone)")
    def next_run_local(self, obj):
        from .selectors import next_run_of_template

        return local_iso(next_run_of_template(template=obj), obj.timezone) or "-"

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f in services.TEMPLATE_FIELDS}
        try:
            if change:
                services.periodic_task_update(template=PeriodicTask.objects.get(pk=obj.pk), actor=request.user,
                                              **fields)
            else:
                data = {f: getattr(obj, f) for f in services.TEMPLATE_FIELDS}
                created = services.periodic_task_create(brand=obj.brand, created_by=request.user, **data)
                obj.pk = created.pk
        except ApplicationError as exc:
            messages.error(request, f"{exc.detail} {exc.field_errors}")

    def delete_model(self, request, obj):
        services.periodic_task_delete(template=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.periodic_task_delete(template=obj)

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        _run(request, "Pause", lambda t: services.periodic_task_pause(template=t, actor=request.user), queryset)

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        _run(request, "Resume", lambda t: services.periodic_task_resume(template=t, actor=request.user), queryset)

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        _run(request, "Run now", lambda t: services.periodic_task_run_now(template=t, actor=request.user), queryset)


class ScheduleEventInline(admin.TabularInline):
    model = ScheduleEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "event_type", "from_status", "to_status", "due_at", "task_id", "detail", "actor"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(BrandScopedAdmin):
    list_display = ["id", "periodic_task", "brand", "status", "next_run_local", "last_run_at", "run_count",
                    "failure_count", "skip_count"]
    list_filter = ["brand", "status"]
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

    def delete_model(self, request, obj):
        services.schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.schedule_delete(schedule=obj)

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        n = services.schedules_pause_many(schedules=list(queryset.select_related("periodic_task")),
                                          actor=request.user)
        messages.success(request, f"Paused {n} schedule(s).")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        n = services.schedules_resume_many(schedules=list(queryset.select_related("periodic_task")),
                                           actor=request.user)
        messages.success(request, f"Resumed {n} schedule(s).")

    @admin.action(description="Run now (its template)")
    def run_now(self, request, queryset):
        templates = {s.periodic_task for s in queryset.select_related("periodic_task")
                     if s.periodic_task and s.status != ScheduleStatus.INACTIVE}
        _run(request, "Run now", lambda t: services.periodic_task_run_now(template=t, actor=request.user), templates)
