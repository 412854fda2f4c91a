"""Admin of schedule templates."""

from django import forms
from django.contrib import admin
from django.db.models import Min, Q

from megahub.api.exceptions import ApplicationError, validation_error
from task_core.admin import run_admin_action

from ..choices import ScheduleKind, ScheduleStatus
from ..models import ScheduleTemplate
from ..selectors.templates import next_run_of_template
from ..services import templates
from ..timing import local_iso
from ..validators import template_validate
from .base import ServiceSavedAdmin, form_errors


class ScheduleTemplateForm(forms.ModelForm):
    class Meta:
        model = ScheduleTemplate
        fields = ["brand", *sorted(templates.TEMPLATE_FIELDS)]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        probe = ScheduleTemplate(pk=self.instance.pk, created_by_id=self.instance.created_by_id)
        for name in self.Meta.fields:
            setattr(probe, name, cleaned.get(name))
        timing_changed = not self.instance.pk or bool(templates.TIMING_FIELDS & set(self.changed_data))
        try:
            template_validate(template=probe, require_future=timing_changed)
            if self.instance.pk and probe.kind == ScheduleKind.MANUAL and self.instance.schedules.exclude(
                    status=ScheduleStatus.INACTIVE).exists():
                raise validation_error("Delete this template's schedules before making it manual-only.",
                                       field_errors={"kind": ["Delete its schedules before making it manual-only."]})
        except ApplicationError as exc:
            form_errors(self, exc)
        else:
            cleaned["parameters"] = probe.parameters
        return cleaned


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(ServiceSavedAdmin):
    form = ScheduleTemplateForm
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
        value = obj.next_run if hasattr(obj, "next_run") else next_run_of_template(template=obj)
        return local_iso(value, obj.timezone) or "-"

    def save_with_service(self, request, obj, form, change):
        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data if f in templates.TEMPLATE_FIELDS}
            templates.template_update(template=ScheduleTemplate.objects.get(pk=obj.pk), actor=request.user,
                                          **fields)
        else:
            data = {f: form.cleaned_data[f] for f in templates.TEMPLATE_FIELDS}
            obj.pk = templates.template_create(brand=form.cleaned_data["brand"], created_by=request.user,
                                                   **data).pk

    def delete_model(self, request, obj):
        templates.template_delete(template=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            templates.template_delete(template=obj)

    @admin.action(description="Pause (operator)")
    def pause(self, request, queryset):
        run_admin_action(self, request, queryset, "Pause",
                         lambda t: templates.template_pause(template=t, actor=request.user))

    @admin.action(description="Resume (operator)")
    def resume(self, request, queryset):
        run_admin_action(self, request, queryset, "Resume",
             lambda t: templates.template_resume(template=t, actor=request.user))

    @admin.action(description="Run now (operator)")
    def run_now(self, request, queryset):
        run_admin_action(self, request, queryset, "Run now",
             lambda t: templates.template_run_now(template=t, actor=request.user))
