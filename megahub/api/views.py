"""Django-level error views, so paths outside DRF answer in the same JSON error shape (inside the
admin, a refusal is the admin's own HTML page)."""

from django.contrib import admin
from django.http import JsonResponse
from django.http.response import HttpResponseRedirectBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

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


class PermanentRedirectKeepingMethod(HttpResponseRedirectBase):
    """308: the client repeats the same method with the same body at the new address."""

    status_code = 308


def moved_to(prefix: str):
    """A view answering 308 to `prefix` + the rest of the path (captured as `rest`) + the query string."""

    @csrf_exempt
    def view(request, rest: str = ""):
        target = prefix + rest.lstrip("/")
        query = request.META.get("QUERY_STRING", "")
        return PermanentRedirectKeepingMethod(f"{target}?{query}" if query else target)

    return view
