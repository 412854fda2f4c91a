from rest_framework.routers import SimpleRouter

from .views import AlertRuleViewSet, AlertViewSet, MetricsViewSet, WorkerViewSet

router = SimpleRouter()
router.register("metrics", MetricsViewSet, basename="monitoring-metrics")
router.register("workers", WorkerViewSet, basename="monitoring-workers")
router.register("alert-rules", AlertRuleViewSet, basename="monitoring-alert-rules")
router.register("alerts", AlertViewSet, basename="monitoring-alerts")

urlpatterns = router.urls
