"""Admin of calendars."""

from django import forms
from django.contrib import admin

from megahub.api.exceptions import ApplicationError

from ..models import TaskCalendar
from ..services import calendars
from ..validators import calendar_validate
from .base import ServiceSavedAdmin, form_errors


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
            calendar_validate(calendar=probe)
        except ApplicationError as exc:
            form_errors(self, exc)
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
            calendars.calendar_update(calendar=TaskCalendar.objects.get(pk=obj.pk), **data)
        else:
            obj.pk = calendars.calendar_create(brand=form.cleaned_data["brand"], **data).pk

    def delete_model(self, request, obj):
        calendars.calendar_delete(calendar=obj)
