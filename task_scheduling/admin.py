"""Staff admin for templates, schedules (with their events) and calendars.

Forms validate with the services' own validators (a bad cron, parameters, calendar or overrides is a form
error, never a half-saved row), saves and deletes go through the services so the Beat rows stay in sync,
and the actions need the operator role in the object's brand (task_core.admin's `run_admin_action`, as
for tasks). django-celery-beat's own admin stays registered for the system entries, but the rows of our
schedules (and the crontab/interval/clocked rows they use) are read-only there: editing them behind the
services' back would make Beat fire something the schedules do not say.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Min, Q
from django.http import HttpResponseRedirect
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule
from django_celery_beat.models import PeriodicTask as BeatEntry

from megahub.api.exceptions import ApplicationError
from task_core.admin import BrandScopedAdmin, HistoryInline, operator_split, run_admin_action

from . import services
from .api.serializers import local_iso
from .beat_sync import FIRE_TASK
from .models import PeriodicTask, Schedule, ScheduleEvent, ScheduleStatus, TaskCalendar


def _form_errors(form: forms.ModelForm, exc: ApplicationError) -> None:
    """Put a service's field errors on the form fields they name (parameters.x -> parameters)."""
    for key, msgs in (exc.field_errors or {"": [str(exc.detail)]}).items():
        root = key.split(".", 1)[0]
        for msg in msgs:
            if root in form.fields and root not in form.errors:
                form.add_error(root, f"{key}: {msg}" if key != root else msg)
            elif root not in form.fields:
                form.add_error(None, f"{key}: {msg}" if key else msg)


class ServiceSavedAdmin(BrandScopedAdmin):
    """Saves through a service. If the service still refuses (a race after the form validated), the error
    is shown and the page comes back unsaved: no success message, no log entry of a change that did not
    happen."""

    def save_model(self, request, obj, form, change):
        try:
            self.save_with_service(request, obj, form, change)
        except ApplicationError as exc:
            request._scheduling_not_saved = True
            messages.error(request, f"Not saved: {exc.detail} {exc.field_errors or ''}".strip())

    def save_with_service(self, request, obj, form, change):
        raise NotImplementedError

    def _not_saved(self, request) -> bool:
        return getattr(request, "_scheduling_not_saved", False)

    def log_addition(self, request, obj, message):
        return None if self._not_saved(request) else super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        return None if self._not_saved(request) else super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(request.path) if self._not_saved(request) else super().response_add(
            request, obj, post_url_continue)

    def response_change(self, request, obj):
        return HttpResponseRedirect(request.path) if self._not_saved(request) else super().response_change(
            request, obj)


# --- calendars -------------------------------------------------------------------------------------

class TaskCalendarForm(forms.ModelForm):
    class Meta:
        model = TaskCalendar
        fields = ["brand", "name", "description", "timezone", "excluded_dates", "blackout_windows"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        probe = TaskCalendar(pk=self.instance.pk, brand_id=(cleaned.get("brand") or self.instance.brand).pk,
                             name=cleaned.get("name", ""), timezone=cleaned.get("timezone", "UTC"),
                             excluded_dates=cleaned.get("excluded_dates") or [],
                             blackout_windows=cleaned.get("blackout_windows") or [])
        try:
            services.calendar_validate(calendar=probe)
        except ApplicationError as exc:
            _form_errors(self, exc)
        else:
            cleaned["excluded_dates"], cleaned["blackout_windows"] = probe.excluded_dates, probe.blackout_windows
        return cleaned


@admin.register(TaskCalendar)
class TaskCalendarAdmin(ServiceSavedAdmin):
    form = TaskCalendarForm
    list_display = ["name", "brand", "timezone", "created_at"]
    list_filter = ["brand"]
    search_fields = ["name"]

    def save_with_service(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ("name", "description", "timezone", "excluded_dates",
                                                   "blackout_windows")}
        if change:
            services.calendar_update(calendar=TaskCalendar.objects.get(pk=obj.pk), **data)
        else:
            obj.pk = services.calendar_create(brand=form.cleaned_data["brand"], **data).pk

    def delete_model(self, request, obj):
        services.calendar_delete(calendar=obj)


# --- templates -------------------------------------------------------------------------------------

class PeriodicTaskForm(forms.ModelForm):
    class Meta:
        model = PeriodicTask
        fields = ["brand", *sorted(services.TEMPLATE_FIELDS)]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        probe = PeriodicTask(pk=self.instance.pk, created_by_id=self.instance.created_by_id)
        for name in self.Meta.fields:
            setattr(probe, name, cleaned.get(name))
        timing_changed = not self.instance.pk or bool(services.TIMING_FIELDS & set(self.changed_data))
        try:
            services.periodic_task_validate(template=probe, require_future=timing_changed)
            if self.instance.pk and probe.kind == "manual" and self.instance.schedules.exclude(
                    status=ScheduleStatus.INACTIVE).exists():
                raise ApplicationError("Delete this template's schedules before making it manual-only.",
                                       field_errors={"kind": ["Delete its schedules before making it manual-only."]})
        except ApplicationError as exc:
            _form_errors(self, exc)
        else:
            cleaned["parameters"] = probe.parameters
        return cleaned


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(ServiceSavedAdmin):
    form = PeriodicTaskForm
    list_display = ["name", "brand", "task_type", "kind", "cron_expression", "interval_seconds", "timezone",
                    "is_active", "next_run_local"]
    list_filter = ["brand", "kind", "is_active", "overlap_policy"]
    search_fields = ["name", "task_type"]
    readonly_fields = ["next_run_local", "created_at", "updated_at"]
    actions = ["pause", "resume", "run_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("brand").annotate(
            next_run=Min("schedules__next_run_at", filter=Q(schedules__status=ScheduleStatus.ACTIVE)))

    @admin.display(description="next run (template timezone)")
    def next_run_local(self, obj):
        from .selectors import next_run_of_template

        value = obj.next_run if hasattr(obj, "next_run") else next_run_of_template(template=obj)
        return local_iso(value, obj.timezone) or "-"

    def save_with_service(self, request, obj, form, change):
        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data if f in services.TEMPLATE_FIELDS}
            services.periodic_task_update(template=PeriodicTask.objects.get(pk=obj.pk), actor=request.user,
                                          **fields)
        else:
            data = {f: form.cleaned_data[f] for f in services.TEMPLATE_FIELDS}
            obj.pk = services.periodic_task_create(brand=form.cleaned_data["brand"], created_by=request.user,
                                                   **data).pk

    def delete_model(self, request, obj):
        services.periodic_task_delete(template=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.periodic_task_delete(template=obj)

    @admin.action(description="Pause (operator)")
    def pause(self, request, queryset):
        run_admin_action(self, request, queryset, "Pause",
                         lambda t: services.periodic_task_pause(template=t, actor=request.user))

    @admin.action(description="Resume (operator)")
    def resume(self, request, queryset):
        run_admin_action(self, request, queryset, "Resume",
             lambda t: services.periodic_task_resume(template=t, actor=request.user))

    @admin.action(description="Run now (operator)")
    def run_now(self, request, queryset):
        run_admin_action(self, request, queryset, "Run now",
             lambda t: services.periodic_task_run_now(template=t, actor=request.user))


# --- schedules -------------------------------------------------------------------------------------

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
                services.schedule_validate_overrides(template=template,
                                                     overrides=cleaned.get("parameter_overrides") or {})
            except ApplicationError as exc:
                _form_errors(self, exc)
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
            services.schedule_update(schedule=Schedule.objects.get(pk=obj.pk), actor=request.user, **fields)

    def delete_model(self, request, obj):
        services.schedule_delete(schedule=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.schedule_delete(schedule=obj)

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
        self._bulk(request, queryset, "Paused", services.schedules_pause_many)

    @admin.action(description="Resume (operator)")
    def resume(self, request, queryset):
        self._bulk(request, queryset, "Resumed", services.schedules_resume_many)

    @admin.action(description="Run now (its template, operator)")
    def run_now(self, request, queryset):
        templates = {s.periodic_task for s in queryset.select_related("periodic_task")
                     if s.periodic_task and s.status != ScheduleStatus.INACTIVE}
        run_admin_action(self, request, sorted(templates, key=lambda t: t.pk), "Run now",
             lambda t: services.periodic_task_run_now(template=t, actor=request.user))


# --- django-celery-beat's admin: our rows are read-only there ----------------------------------------

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
    def is_ours(self, obj):
        return obj.task == FIRE_TASK

    def ours_in(self, queryset):
        return queryset.filter(task=FIRE_TASK)


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
