from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from megahub.api.views import moved_to
from task_core.api.auth import LoginView, MeView, RefreshView
from task_monitoring.prometheus import metrics_view


def healthz(request):
    """Liveness for load balancers and compose; the full check is /tasks/system/health/."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("", TemplateView.as_view(template_name="megahub/home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("healthz", healthz),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("auth/token/", LoginView.as_view(), name="token_obtain"),
    path("auth/token/refresh/", RefreshView.as_view(), name="token_refresh"),
    path("auth/me/", MeView.as_view(), name="me"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Apps that own a prefix under /tasks/ come before the task routes.
    path("tasks/system/", include("task_scheduling.api.system_urls")),
    path("tasks/system/", include("task_monitoring.api.system_urls")),
    path("tasks/monitoring/", include("task_monitoring.api.urls")),
    path("tasks/scheduled/", include("task_scheduling.api.urls")),
    path("tasks/persistent-jobs/", include("task_persistence.api.urls")),
    path("tasks/", include("task_core.api.urls")),
    # The Russian reference's scheduler API, for its existing clients; its legacy prefix moved for good.
    path("api/v1/scheduler/", include("task_scheduling.api.scheduler_v1.urls")),
    re_path(r"^api/scheduler(?:/(?P<rest>.*))?$", moved_to("/api/v1/scheduler/")),
]

handler400 = "megahub.api.views.bad_request"
handler403 = "megahub.api.views.permission_denied"
handler404 = "megahub.api.views.not_found"
handler500 = "megahub.api.views.server_error"
