"""Django-level error views, so paths outside DRF answer in the same JSON error shape (inside the
admin, a refusal is the admin's own HTML page)."""

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from .exceptions import error_body


def not_found(request, exception=None):
    return JsonResponse(error_body("Not found.", "NOT_FOUND"), status=404)


def server_error(request):
    return JsonResponse(error_body("Internal server error.", "INTERNAL_ERROR"), status=500)


def bad_request(request, exception=None):
    return JsonResponse(error_body("Bad request.", "BAD_REQUEST"), status=400)


def permission_denied(request, exception=None):
    if request.path.startswith(reverse("admin:index")):
        return TemplateResponse(request, "admin/403.html", admin.site.each_context(request), status=403).render()
    return JsonResponse(error_body("Permission denied.", "PERMISSION_DENIED"), status=403)
