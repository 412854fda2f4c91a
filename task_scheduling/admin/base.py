"""What the scheduling admins share: saving through a service, and a service's field errors on the form.

Forms validate with task_scheduling.validators (a bad cron, parameters, calendar or overrides is a form
error, never a half-saved row), saves and deletes go through the services so the Beat rows stay in sync,
and the actions need the operator role in the object's brand (task_core.admin's `run_admin_action`, as
for tasks).
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect

from megahub.api.exceptions import ApplicationError
from task_core.admin import BrandScopedAdmin


def form_errors(form: forms.ModelForm, exc: ApplicationError) -> None:
    """Put every one of a service's field errors on the form field it names (parameters.x -> parameters),
    except on fields that did not even parse (their own error says why)."""
    unparsed = set(form.errors)
    for key, msgs in (exc.field_errors or {"": [str(exc.detail)]}).items():
        root = key.split(".", 1)[0]
        for msg in msgs:
            if root in form.fields and root not in unparsed:
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
