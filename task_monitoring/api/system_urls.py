"""task_monitoring routes under /tasks/system/ (dashboard, cleanup/executions)."""

from rest_framework.routers import SimpleRouter

from .views import MonitoringSystemViewSet

router = SimpleRouter()
router.register("", MonitoringSystemViewSet, basename="monitoring-system")

urlpatterns = router.urls
